/**
 * Performance: the mobile configuration, with a battery-friendly refresh.
 *
 * Unlike the guide's version, `create` hands back a `stop` function: a
 * timer nobody can cancel would keep the process (and the radio) awake
 * after the DHT is closed.
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
  dhtMessageRetryMaxBackoff,
  disableAutoRefresh,
  type IpfsDHT,
  maxDhtMessageRetries,
  mode,
  type ProviderStore,
  resiliency
} from "@effect-kad/dht"
import type { Libp2p } from "libp2p"

/** Settings of {@link MobileOptimizedDHT.create}. */
export interface MobileRefreshConfig {
  readonly bootstrap: ReadonlyArray<BootstrapPeerInput>
  /** Options of your application (validators), applied last. */
  readonly appOptions?: ReadonlyArray<DHTOption>
  /** Period of the refresh check (default 15 minutes). */
  readonly refreshIntervalMillis?: number
  /** Whether to refresh now: network conditions good and battery sufficient (default: always). */
  readonly shouldRefresh?: () => Promise<boolean>
}

/** A running mobile DHT and the means to stop its refresh timer with it. */
export interface MobileDHTHandle {
  readonly dht: IpfsDHT
  /** Quick-connect refreshes done so far. */
  refreshes(): number
  /** Clears the refresh timer, waits for a refresh in progress, closes the DHT. */
  stop(): Promise<void>
}

/** The guide's `MobileOptimizedDHT`. */
export const MobileOptimizedDHT = {
  mobileConfig: [
    mode(DHTMode.client), // client-only mode saves resources
    bucketSize(10), // smaller routing table
    concurrency(3), // lower network concurrency
    resiliency(2), // fewer required responses
    maxDhtMessageRetries(2), // fewer retry attempts
    dhtMessageRetryMaxBackoff("10 seconds"),
    disableAutoRefresh() // manual refresh control
  ] as ReadonlyArray<DHTOption>,

  async create(host: Libp2p, store: ProviderStore, config: MobileRefreshConfig): Promise<MobileDHTHandle> {
    const dht = await DHT.new_(host, store, [
      ...MobileOptimizedDHT.mobileConfig,
      bootstrapPeers(config.bootstrap),
      ...(config.appOptions ?? [])
    ])
    // with auto refresh off nothing connects by itself: join once now
    try {
      await dht.bootstrap({ quickConnectOnly: true })
    } catch (error) {
      await dht.close()
      throw error
    }
    let refreshes = 0
    let running: Promise<void> | undefined
    const shouldRefresh = config.shouldRefresh ?? (async () => true)
    const timer = setInterval(
      () => {
        if (running !== undefined) return
        running = shouldRefresh()
          .then(async (go) => {
            if (!go) return
            await dht.bootstrap({ quickConnectOnly: true })
            refreshes++
          })
          .catch(() => undefined) // a failed refresh is retried at the next tick
          .finally(() => {
            running = undefined
          })
      },
      config.refreshIntervalMillis ?? 15 * 60 * 1000
    )
    return {
      dht,
      refreshes: () => refreshes,
      stop: async () => {
        clearInterval(timer)
        await running
        await dht.close()
      }
    }
  }
} as const
