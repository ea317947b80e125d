/**
 * The `RoutingTable` service: Kademlia k-buckets with go-libp2p-kad-dht's
 * admission rules (usefulness grace period, replaceable bootstrap peers,
 * liveness check before evicting, optional IP diversity limits).
 *
 * @module
 */
import { asKadId, InvalidOptionError, type KadId, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DiversityCounter } from "../internal/routing-table/diversity.js"
import {
  type AddDecision,
  type AdmissionFlags,
  type BucketInfo,
  type Candidate,
  KBucketTable,
  type PeerEntry,
  type TableEvent
} from "../internal/routing-table/table.js"
import {
  DEFAULT_BUCKET_SIZE,
  DEFAULT_MAX_PER_GROUP_PER_BUCKET,
  DEFAULT_MAX_PER_GROUP_PER_TABLE,
  defaultUsefulnessGracePeriodMillis,
  type RoutingTableConfig
} from "./config.js"

/** Options of {@link RoutingTableShape.tryAdd}. */
export interface TryAddOptions {
  /**
   * The peer just answered one of our queries (or queried us). A new peer
   * starts with `lastUsefulAt` set; a known peer gets its first usefulness
   * bump and a fresh `lastSuccessfulOutboundQueryAt`.
   */
  readonly queryPeer?: boolean
  /**
   * A newcomer may take this peer's slot without a liveness check. Meant
   * for bootstrap peers, which should make way for organically found ones.
   */
  readonly isReplaceable?: boolean
}

/** A change of the table's membership. */
export type RoutingTableEvent = TableEvent
export type { TableEvent }

/** Operations of the {@link RoutingTable} service. */
export interface RoutingTableShape {
  /** The local Kad ID the buckets are relative to. */
  readonly localKadId: KadId
  /** `k`, the capacity of each bucket. */
  readonly bucketSize: number
  /**
   * Offers a peer to the table; succeeds with `true` when it was newly
   * added. A peer already present is not re-added (`false`) but its
   * addresses are replaced by the offered ones when there are any.
   *
   * The table refuses itself, peers the filter rejects, peers that would
   * break the diversity limits, and newcomers to a full bucket unless a
   * replaceable peer can make way, or the least useful peer past its grace
   * period fails the liveness check.
   */
  readonly tryAdd: (peer: PeerInfo, options?: TryAddOptions) => Effect.Effect<boolean>
  /**
   * Whether offering the peer could add it without evicting anyone after a
   * liveness check: it is not held yet, and its bucket has room or a
   * replaceable peer (go's `UsefulNewPeer`). Worth asking before spending a
   * request on a newly seen peer.
   */
  readonly isUsefulNewPeer: (peer: PeerId) => Effect.Effect<boolean>
  /** Removes a peer; `true` when it was present. */
  readonly remove: (peer: PeerId) => Effect.Effect<boolean>
  /** Records that the peer answered a query usefully (it brought us closer); `false` when unknown. */
  readonly markUseful: (peer: PeerId) => Effect.Effect<boolean>
  /** Records a successful request to the peer; `false` when unknown. */
  readonly markSuccessfulOutboundQuery: (peer: PeerId) => Effect.Effect<boolean>
  /** Folds a round-trip sample into the peer's smoothed latency; `false` when unknown or invalid. */
  readonly recordLatency: (peer: PeerId, millis: number) => Effect.Effect<boolean>
  /** The peer's entry, if present. */
  readonly find: (peer: PeerId) => Effect.Effect<Option.Option<PeerEntry>>
  /**
   * The `count` peers closest to `key` (a 32-byte Kad ID) by XOR distance,
   * closest first: exactly what sorting the whole table would give, found
   * by walking the buckets outward from the key's bucket.
   */
  readonly nearest: (key: Uint8Array, count: number) => Effect.Effect<ReadonlyArray<PeerEntry>>
  /** Number of peers held. */
  readonly size: Effect.Effect<number>
  /** Every peer held, bucket by bucket. */
  readonly listPeers: Effect.Effect<ReadonlyArray<PeerEntry>>
  /** One past the index of the deepest non-empty bucket (0 when empty): the buckets a refresh should cover. */
  readonly bucketCount: Effect.Effect<number>
  /** Size and last refresh time of buckets `0 .. bucketCount - 1`. */
  readonly buckets: Effect.Effect<ReadonlyArray<BucketInfo>>
  /** Peers in the bucket of common prefix length `cpl`. */
  readonly peerCountForCpl: (cpl: number) => Effect.Effect<number>
  /** Records that bucket `cpl` was just refreshed. */
  readonly markBucketRefreshed: (cpl: number) => Effect.Effect<void>
  /**
   * Membership changes, in the order they happened. A subscriber sees events
   * from the moment its stream starts; it should keep up, since events are
   * buffered for it without bound.
   */
  readonly events: Stream.Stream<RoutingTableEvent>
  /**
   * Subscribes at once and returns the events from this moment on, for the
   * life of the scope. Unlike {@link RoutingTableShape.events}, which
   * subscribes only when the stream starts running, nothing that happens
   * after this effect completes can be missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<RoutingTableEvent>, never, Scope.Scope>
}

/**
 * The Kademlia routing table of one node.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const table = yield* RoutingTable
 *   yield* table.tryAdd({ id: peerId, multiaddrs: [addr] })
 *   const closest = yield* table.nearest(kadIdOfKey(key), 20)
 * }).pipe(Effect.provide(RoutingTable.layer({ self: myPeerId, isAlive: ping })))
 * ```
 */
export class RoutingTable extends Context.Tag("@effect-kad/routing/RoutingTable")<RoutingTable, RoutingTableShape>() {
  /** Builds a routing table that lives until the scope closes (its event stream ends then). */
  static readonly make = (
    config: RoutingTableConfig
  ): Effect.Effect<RoutingTableShape, InvalidOptionError, Scope.Scope> => makeRoutingTable(config)

  /** The routing table as a layer. */
  static readonly layer = (config: RoutingTableConfig): Layer.Layer<RoutingTable, InvalidOptionError> =>
    Layer.scoped(RoutingTable, makeRoutingTable(config))
}

const makeRoutingTable = (
  config: RoutingTableConfig
): Effect.Effect<RoutingTableShape, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const settings = yield* validate(config)
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<RoutingTableEvent>(), PubSub.shutdown)
    const table = new KBucketTable({
      local: settings.local,
      bucketSize: settings.bucketSize,
      maxSize: settings.maxSize,
      gracePeriodMillis: settings.gracePeriodMillis,
      diversity: settings.diversity,
      peerFilter: config.peerFilter,
      // Offered synchronously, inside the mutation, so subscribers see events in state order.
      emit: (event) => {
        pubsub.unsafeOffer(event)
      }
    })
    // One permit per bucket: liveness checks are slow network round trips,
    // so they serialise only newcomers contending for the same bucket. Made
    // on a bucket's first liveness check, since most buckets never need one
    // and simulations hold thousands of tables.
    const bucketLocks = new Map<number, Effect.Semaphore>()
    const bucketLock = (cpl: number): Effect.Semaphore => {
      let lock = bucketLocks.get(cpl)
      if (lock === undefined) {
        lock = Effect.unsafeMakeSemaphore(1)
        bucketLocks.set(cpl, lock)
      }
      return lock
    }

    const settle = (decision: AddDecision, candidate: Candidate): Effect.Effect<boolean> => {
      if (decision._tag === "Added") return Effect.succeed(true)
      if (decision._tag === "Refused") {
        return Effect.logDebug("routing table refused peer").pipe(
          Effect.annotateLogs({ peer: candidate.key, reason: decision.reason }),
          Effect.as(false)
        )
      }
      return Effect.succeed(false)
    }

    const admitAfterLivenessCheck = (candidate: Candidate, flags: AdmissionFlags): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        // The table may have changed while this fiber waited for the permit.
        const decision = table.decide(candidate, flags, yield* Clock.currentTimeMillis, true)
        if (decision._tag !== "NeedsLivenessCheck") return yield* settle(decision, candidate)
        const incumbent = decision.incumbent.id
        const alive = yield* config.isAlive(incumbent)
        const now = yield* Clock.currentTimeMillis
        if (alive) table.confirmAlive(incumbent, now)
        else table.remove(incumbent)
        return yield* settle(table.decide(candidate, flags, now, false), candidate)
      })

    const tryAdd = (peer: PeerInfo, options: TryAddOptions = {}): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const candidate = table.prepare(peer)
        const flags: AdmissionFlags = {
          queryPeer: options.queryPeer ?? false,
          replaceable: options.isReplaceable ?? false
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const decision = table.decide(candidate, flags, now, true)
          if (decision._tag !== "NeedsLivenessCheck") return settle(decision, candidate)
          return bucketLock(candidate.cpl).withPermits(1)(admitAfterLivenessCheck(candidate, flags))
        })
      })

    const withNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => f(now)))

    return {
      localKadId: settings.local,
      bucketSize: settings.bucketSize,
      tryAdd,
      isUsefulNewPeer: (peer) => Effect.sync(() => table.usefulNewPeer(peer)),
      remove: (peer) => Effect.sync(() => table.remove(peer) !== undefined),
      markUseful: (peer) => withNow((now) => table.markUseful(peer, now)),
      markSuccessfulOutboundQuery: (peer) => withNow((now) => table.markSuccessfulOutboundQuery(peer, now)),
      recordLatency: (peer, millis) => Effect.sync(() => table.recordLatency(peer, millis)),
      find: (peer) => Effect.sync(() => Option.fromNullable(table.get(peer))),
      nearest: (key, count) => Effect.sync(() => table.nearest(asKadId(key), count)),
      size: Effect.sync(() => table.size),
      listPeers: Effect.sync(() => table.listPeers()),
      bucketCount: Effect.sync(() => table.bucketCount()),
      buckets: Effect.sync(() => table.bucketInfos()),
      peerCountForCpl: (cpl) => Effect.sync(() => table.peerCountForCpl(cpl)),
      markBucketRefreshed: (cpl) => withNow((now) => table.markBucketRefreshed(cpl, now)),
      events: Stream.fromPubSub(pubsub),
      subscribe: Stream.fromPubSub(pubsub, { scoped: true })
    } satisfies RoutingTableShape
  })

interface Settings {
  readonly local: KadId
  readonly bucketSize: number
  readonly maxSize: number
  readonly gracePeriodMillis: number
  readonly diversity: DiversityCounter | undefined
}

const invalid = (field: string, reason: string) => Effect.fail(new InvalidOptionError({ field, reason }))

const isPositiveInteger = (n: number): boolean => Number.isInteger(n) && n >= 1

const validate = (config: RoutingTableConfig): Effect.Effect<Settings, InvalidOptionError> =>
  Effect.gen(function* () {
    let local: KadId
    if (config.self instanceof Uint8Array) {
      if (config.self.byteLength !== 32) return yield* invalid("self", "a Kad ID has 32 bytes")
      local = config.self
    } else {
      local = kadIdOfPeer(config.self)
    }
    const bucketSize = config.bucketSize ?? DEFAULT_BUCKET_SIZE
    if (!isPositiveInteger(bucketSize)) return yield* invalid("bucketSize", "must be a positive integer")
    const maxSize = config.maxRoutingTableSize ?? Number.POSITIVE_INFINITY
    if (maxSize !== Number.POSITIVE_INFINITY && !isPositiveInteger(maxSize)) {
      return yield* invalid("maxRoutingTableSize", "must be a positive integer or Infinity")
    }
    const gracePeriodMillis = config.usefulnessGracePeriodMillis ?? defaultUsefulnessGracePeriodMillis({ bucketSize })
    if (!Number.isFinite(gracePeriodMillis) || gracePeriodMillis < 0) {
      return yield* invalid("usefulnessGracePeriodMillis", "must be a non-negative number of milliseconds")
    }
    let diversity: DiversityCounter | undefined
    if (config.diversity?.enabled === true) {
      const perBucket = config.diversity.maxPerGroupPerBucket ?? DEFAULT_MAX_PER_GROUP_PER_BUCKET
      const perTable = config.diversity.maxPerGroupPerTable ?? DEFAULT_MAX_PER_GROUP_PER_TABLE
      if (!isPositiveInteger(perBucket))
        return yield* invalid("diversity.maxPerGroupPerBucket", "must be a positive integer")
      if (!isPositiveInteger(perTable))
        return yield* invalid("diversity.maxPerGroupPerTable", "must be a positive integer")
      diversity = new DiversityCounter(perBucket, perTable)
    }
    return { local, bucketSize, maxSize, gracePeriodMillis, diversity }
  })
