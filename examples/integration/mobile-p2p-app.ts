/**
 * Integration example: a mobile-optimized app. Client mode, a small
 * routing table, few retries, and a slow quick-connect refresh whose timer
 * is cleared on shutdown.
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
  type IpfsDHT,
  MemoryProviderStore,
  maxDhtMessageRetries,
  mode,
  resiliency
} from "@effect-kad/dht"
import type { Libp2p } from "libp2p"

/** The guide's mobile options, with the bootstrap peers of your deployment. */
export const mobileAppOptions = (bootstrap: ReadonlyArray<BootstrapPeerInput>): Array<DHTOption> => [
  mode(DHTMode.client), // client-only for battery life
  bucketSize(15), // smaller routing table
  concurrency(5), // lower network usage
  resiliency(2), // fewer required responses
  maxDhtMessageRetries(2), // fewer retries
  dhtMessageRetryMaxBackoff("10 seconds"),
  // conservative bootstrap: a short list of peers you run
  bootstrapPeers(bootstrap)
]

/** The guide's `MobileP2PApp`. */
export class MobileP2PApp {
  private current: IpfsDHT | undefined
  private refreshTimer: ReturnType<typeof setInterval> | undefined
  private refreshing: Promise<void> | undefined
  private counts = { refreshes: 0, failures: 0 }

  /** Builds and starts the DHT and schedules the quick-connect refresh (default every 10 minutes). */
  async initialize(
    host: Libp2p,
    bootstrap: ReadonlyArray<BootstrapPeerInput>,
    refreshIntervalMillis = 10 * 60 * 1000
  ): Promise<void> {
    const dht = await DHT.new_(host, new MemoryProviderStore(), mobileAppOptions(bootstrap))
    await dht.start()
    this.current = dht
    // periodic refresh, less frequent than the DHT's own; reconnects only, no full table refresh
    this.refreshTimer = setInterval(() => {
      if (this.refreshing !== undefined) return // the previous one is still running on a slow link
      this.refreshing = dht
        .bootstrap({ quickConnectOnly: true })
        .then(
          () => {
            this.counts.refreshes++
          },
          () => {
            this.counts.failures++
          }
        )
        .finally(() => {
          this.refreshing = undefined
        })
    }, refreshIntervalMillis)
  }

  /** The running DHT. */
  get dht(): IpfsDHT {
    if (this.current === undefined) throw new Error("MobileP2PApp: call initialize() first")
    return this.current
  }

  /** Refreshes completed and failed so far. */
  get refreshStats(): { readonly refreshes: number; readonly failures: number } {
    return { ...this.counts }
  }

  /** Cancels the refresh timer, lets a running refresh finish, then closes the DHT. */
  async shutdown(): Promise<void> {
    clearInterval(this.refreshTimer)
    this.refreshTimer = undefined
    await this.refreshing
    await this.current?.close()
    this.current = undefined
  }
}
