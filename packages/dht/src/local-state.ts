/**
 * What a node holds locally, read without any network traffic: its stored
 * value records and the statistics and health of its routing table. The
 * Promise facade's `getLocalRecord`, `routingTable.stats()` and friends run
 * these.
 *
 * @module
 */
import type { DhtRecord } from "@effect-kad/core"
import {
  type BucketInfo,
  DEFAULT_LOW_PEERS_THRESHOLD,
  RefreshManager,
  type RefreshReport,
  RoutingTable
} from "@effect-kad/routing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { RecordStore, type RecordStoreError } from "./values/index.js"

/** Operations on the records this node stores (expired ones count as absent). */
export const localRecordOps = {
  /** The stored record, or null. */
  get: (key: Uint8Array): Effect.Effect<DhtRecord | null, RecordStoreError, RecordStore> =>
    Effect.flatMap(RecordStore, (store) => Effect.map(store.get(key), Option.getOrNull)),
  /** Whether a record is stored. */
  has: (key: Uint8Array): Effect.Effect<boolean, RecordStoreError, RecordStore> =>
    Effect.flatMap(RecordStore, (store) => Effect.map(store.get(key), Option.isSome)),
  /** Deletes the stored record; whether there was one. */
  remove: (key: Uint8Array): Effect.Effect<boolean, RecordStoreError, RecordStore> =>
    Effect.flatMap(RecordStore, (store) =>
      Effect.flatMap(store.get(key), (found) => Effect.as(store.delete(key), Option.isSome(found)))
    )
} as const

/** Statistics of the routing table. */
export interface RoutingTableStats {
  /** Peers in the table. */
  readonly size: number
  /** Buckets in use (the deepest holds every peer sharing at least its prefix length with us). */
  readonly bucketCount: number
  /** Each bucket: its prefix length, its peers, when it was last refreshed. */
  readonly buckets: ReadonlyArray<BucketInfo>
  /** Refreshes completed since start. */
  readonly refreshes: number
  /** The last refresh, if any. */
  readonly lastRefresh: RefreshReport | null
}

/** Whether the routing table can serve lookups well. */
export interface RoutingTableHealth {
  readonly size: number
  /** A non-empty table: lookups have someone to ask (the guide's `isHealthy`). */
  readonly healthy: boolean
  /**
   * At or below go's low-peer threshold (10): the node is refilling the
   * table from its connections and bootstrap peers.
   */
  readonly low: boolean
  /** A refresh is running now. */
  readonly refreshing: boolean
  /** When the last refresh finished, or null. */
  readonly lastRefreshAt: Date | null
}

/**
 * The routing table's statistics.
 *
 * @example
 * ```ts
 * const stats = await dht.routingTable.stats()
 * console.log(`${stats.size} peers in ${stats.bucketCount} buckets`)
 * ```
 */
export const routingTableStats: Effect.Effect<RoutingTableStats, never, RoutingTable | RefreshManager> = Effect.gen(
  function* () {
    const table = yield* RoutingTable
    const status = yield* Effect.flatMap(RefreshManager, (refresh) => refresh.status)
    const buckets = yield* table.buckets
    return {
      size: yield* table.size,
      bucketCount: buckets.length,
      buckets,
      refreshes: status.completed,
      lastRefresh: Option.getOrNull(status.lastRefresh)
    }
  }
)

/**
 * The routing table's health.
 *
 * @example
 * ```ts
 * const health = await dht.routingTable.health()
 * if (!health.healthy) await dht.bootstrap()
 * ```
 */
export const routingTableHealth: Effect.Effect<RoutingTableHealth, never, RoutingTable | RefreshManager> = Effect.gen(
  function* () {
    const size = yield* Effect.flatMap(RoutingTable, (table) => table.size)
    const status = yield* Effect.flatMap(RefreshManager, (refresh) => refresh.status)
    return {
      size,
      healthy: size > 0,
      low: size <= DEFAULT_LOW_PEERS_THRESHOLD,
      refreshing: status.running,
      lastRefreshAt: Option.match(status.lastRefresh, { onNone: () => null, onSome: (r) => r.finishedAt })
    }
  }
)
