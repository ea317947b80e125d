/**
 * Troubleshooting high memory use: a small client configuration, and a
 * periodic cleanup that drops expired provider records and can restart
 * the DHT when the application decides memory is too high.
 *
 * @module
 */
import {
  type BootstrapPeerInput,
  bootstrapPeers,
  bucketSize,
  concurrency,
  DHT,
  DHTMode,
  type DHTOption,
  disableAutoRefresh,
  type IpfsDHT,
  maxRoutingTableSize,
  mode,
  type ProviderStore,
  resiliency
} from "@effect-kad/dht"
import type { Libp2p } from "libp2p"

/** The guide's memory-constrained options. */
export const memoryConstrainedOptions: ReadonlyArray<DHTOption> = [
  mode(DHTMode.client), // client-only mode
  bucketSize(10), // smaller buckets
  maxRoutingTableSize(200), // limit total peers
  concurrency(3), // lower concurrency
  resiliency(2), // fewer required responses
  disableAutoRefresh() // manual refresh control
]

/** Settings of {@link MemoryConstrainedNode.start}. */
export interface MemoryConstrainedNodeConfig {
  readonly bootstrap: ReadonlyArray<BootstrapPeerInput>
  /** Options of your application (validators), applied last. */
  readonly appOptions?: ReadonlyArray<DHTOption>
  /** Period of the cleanup (default 30 minutes). */
  readonly cleanupIntervalMillis?: number
  /** Asked after each cleanup; true restarts the DHT (default: never). */
  readonly shouldRestart?: () => boolean
}

/** A DHT in the memory-constrained configuration, with the guide's periodic cleanup. */
export class MemoryConstrainedNode {
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<void> | undefined
  private counts = { cleanups: 0, removedRecords: 0, restarts: 0, failures: 0 }

  private constructor(
    private current: IpfsDHT,
    private readonly host: Libp2p,
    private readonly providerStore: ProviderStore,
    private readonly options: ReadonlyArray<DHTOption>,
    private readonly config: MemoryConstrainedNodeConfig
  ) {}

  /** Builds the DHT, connects to the bootstrap peers (auto refresh is off) and schedules the cleanup. */
  static async start(
    host: Libp2p,
    providerStore: ProviderStore,
    config: MemoryConstrainedNodeConfig
  ): Promise<MemoryConstrainedNode> {
    const options = [...memoryConstrainedOptions, bootstrapPeers(config.bootstrap), ...(config.appOptions ?? [])]
    const dht = await DHT.new_(host, providerStore, options)
    try {
      await dht.bootstrap()
    } catch (error) {
      await dht.close()
      throw error
    }
    const node = new MemoryConstrainedNode(dht, host, providerStore, options, config)
    node.timer = setInterval(
      () => {
        if (node.running !== undefined) return
        node.running = node.cleanup().finally(() => {
          node.running = undefined
        })
      },
      config.cleanupIntervalMillis ?? 30 * 60 * 1000
    )
    return node
  }

  /** The current DHT (a new one after a restart). */
  get dht(): IpfsDHT {
    return this.current
  }

  /** Cleanups run, provider records they removed, restarts, and failed cleanups. */
  get stats(): { cleanups: number; removedRecords: number; restarts: number; failures: number } {
    return { ...this.counts }
  }

  private async cleanup(): Promise<void> {
    try {
      // free expired provider records now rather than at the store's next own pass
      this.counts.removedRecords += await this.providerStore.cleanup()
      this.counts.cleanups++
      if (this.config.shouldRestart?.() === true) {
        await this.current.close()
        // the provider store is the caller's: closing the DHT leaves it open for the new one
        this.current = await DHT.new_(this.host, this.providerStore, this.options)
        await this.current.bootstrap()
        this.counts.restarts++
      }
    } catch {
      this.counts.failures++
    }
  }

  /** Stops the cleanup timer, waits for a cleanup in progress, and closes the DHT. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
    await this.current.close()
  }
}
