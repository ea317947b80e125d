/**
 * Advanced: network statistics from the size estimator and the routing table.
 *
 * The estimator learns from completed `getClosestPeers` lookups that
 * returned a full `k` peers; until five of them are recorded (in the last
 * two hours) `estimate()` rejects with a `NotEnoughDataError`, which the
 * monitor reports as "no estimate yet" (null).
 *
 * @module
 */
import type { IpfsDHT } from "@effect-kad/dht"

/** The guide's `NetworkStats`. */
export interface NetworkStats {
  /** Estimated peers in the whole DHT, or null until enough lookups completed. */
  readonly estimatedNetworkSize: number | null
  readonly routingTableSize: number
  /** Peers in the routing table (the guide's `connectedPeers`). */
  readonly connectedPeers: number
  /** Mean round-trip time of the peers measured so far, or null when none was. */
  readonly averageLatencyMillis: number | null
}

const isNotEnoughData = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "NotEnoughDataError"

/** The guide's `NetworkMonitor`. */
export class NetworkMonitor {
  constructor(readonly dht: IpfsDHT) {}

  async getNetworkStats(): Promise<NetworkStats> {
    const estimatedNetworkSize = await this.dht.nsEstimator.estimate().catch((error: unknown) => {
      if (isNotEnoughData(error)) return null
      throw error
    })
    const routingTableSize = await this.dht.routingTable.size()
    const peers = await this.dht.routingTable.listPeers()
    return {
      estimatedNetworkSize,
      routingTableSize,
      connectedPeers: peers.length,
      averageLatencyMillis: averageLatency(peers.map((p) => p.latencyMillis))
    }
  }

  /**
   * Runs `lookups` lookups for random keys: each complete one is a sample
   * for the estimator. A node does these anyway over time (refreshes,
   * provides); call this to get an estimate sooner.
   */
  async sampleNetwork(lookups = 5): Promise<void> {
    for (let i = 0; i < lookups; i++) {
      await this.dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)))
    }
  }
}

/** Mean of the measured latencies; peers not measured yet are left out rather than counted as zero. */
export const averageLatency = (latencies: ReadonlyArray<number | undefined>): number | null => {
  let sum = 0
  let count = 0
  for (const latency of latencies) {
    if (latency !== undefined) {
      sum += latency
      count++
    }
  }
  return count === 0 ? null : sum / count
}
