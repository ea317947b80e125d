/**
 * Configuration of the routing table and the go-libp2p-kad-dht defaults it
 * derives from.
 *
 * @module
 */
import type { KadId, PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type * as Effect from "effect/Effect"

/** Peers per bucket (`k`) in the Amino DHT. */
export const DEFAULT_BUCKET_SIZE = 20

/** Lookup concurrency (`alpha`) of go-libp2p-kad-dht, used to derive the usefulness thresholds. */
export const DEFAULT_ALPHA = 10

/** Interval between routing table refreshes in go-libp2p-kad-dht (10 minutes). */
export const DEFAULT_REFRESH_INTERVAL_MILLIS = 10 * 60 * 1000

/** Per-bucket cap of one IP group, as in go-libp2p-kad-dht's diversity filter. */
export const DEFAULT_MAX_PER_GROUP_PER_BUCKET = 2

/** Per-table cap of one IP group, as in go-libp2p-kad-dht's diversity filter. */
export const DEFAULT_MAX_PER_GROUP_PER_TABLE = 3

/** Settings of {@link maxLastSuccessfulOutboundThresholdMillis}. */
export interface UsefulnessThresholdParams {
  readonly bucketSize?: number
  readonly alpha?: number
  readonly refreshIntervalMillis?: number
}

/**
 * How long a routing table peer may go without a successful outbound query
 * before a refresh should check it is still alive.
 *
 * Each refresh of a bucket queries `alpha` of its `k` peers, so a given peer
 * is skipped by one refresh with probability `1 - alpha/k`; after
 * `ln(1/k) / ln(1 - alpha/k)` refreshes the chance it was never queried
 * drops below `1/k`. go-libp2p-kad-dht uses the same bound, which is about
 * 43 minutes with its defaults (k = 20, alpha = 10, refresh every 10 min).
 *
 * @example
 * ```ts
 * maxLastSuccessfulOutboundThresholdMillis() // ≈ 2_593_157 (43.2 minutes)
 * ```
 */
export const maxLastSuccessfulOutboundThresholdMillis = (params: UsefulnessThresholdParams = {}): number => {
  const k = params.bucketSize ?? DEFAULT_BUCKET_SIZE
  const alpha = params.alpha ?? DEFAULT_ALPHA
  const interval = params.refreshIntervalMillis ?? DEFAULT_REFRESH_INTERVAL_MILLIS
  if (alpha >= k) return interval
  return (Math.log(1 / k) / Math.log(1 - alpha / k)) * interval
}

/**
 * The default usefulness grace period: twice
 * {@link maxLastSuccessfulOutboundThresholdMillis}, as go-libp2p-kad-dht
 * configures its routing table, so peers that have been useful once are kept
 * a while longer than the refresh cycle alone would need (≈ 86 minutes with
 * the defaults).
 */
export const defaultUsefulnessGracePeriodMillis = (params: UsefulnessThresholdParams = {}): number =>
  2 * maxLastSuccessfulOutboundThresholdMillis(params)

/** IP diversity limits; see {@link RoutingTableConfig.diversity}. */
export interface DiversityConfig {
  /** Whether the limits apply at all. Off by default: local test networks share one address range. */
  readonly enabled: boolean
  /** Peers of one IP group (IPv4 /16, IPv6 /32) allowed in one bucket. */
  readonly maxPerGroupPerBucket?: number
  /** Peers of one IP group allowed in the whole table. */
  readonly maxPerGroupPerTable?: number
}

/**
 * Settings of a {@link RoutingTable}.
 *
 * @example
 * ```ts
 * const config: RoutingTableConfig = {
 *   self: myPeerId,
 *   isAlive: (peer) => ping(peer).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
 * }
 * ```
 */
export interface RoutingTableConfig {
  /** The local peer (or its Kad ID); buckets are indexed by common prefix length with it. */
  readonly self: PeerId | KadId
  /** `k`, peers per bucket (default 20). */
  readonly bucketSize?: number
  /** Cap on the total number of peers (default: none). */
  readonly maxRoutingTableSize?: number
  /**
   * How long a peer is safe from eviction after it was added, was useful in
   * a query, or answered a liveness check (default
   * {@link defaultUsefulnessGracePeriodMillis}).
   */
  readonly usefulnessGracePeriodMillis?: number
  /** IP diversity limits (default: disabled; limits 2 per bucket, 3 per table). */
  readonly diversity?: DiversityConfig
  /** Admission filter: peers for which it returns false are never added. Must be cheap and must not throw. */
  readonly peerFilter?: (peer: PeerInfo) => boolean
  /**
   * Liveness check of an existing peer, consulted only when a full bucket
   * must decide whether to make room for a newcomer. Resolve `false` when
   * the peer did not answer; the check should carry its own timeout.
   */
  readonly isAlive: (peer: PeerId) => Effect.Effect<boolean>
}
