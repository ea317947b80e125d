/**
 * Content routing: announcing this node as a provider of content
 * (`provide`, with periodic reprovide) and finding the providers of content
 * (`findProviders`), plus namespace discovery on top of both.
 *
 * @module
 */

import {
  compareBytes,
  InvalidKeyError,
  InvalidOptionError,
  kadIdOfKey,
  Network,
  type PeerInfo,
  printableKey
} from "@effect-kad/core"
import { NetworkSizeEstimator, PeerRouting, RoutingTable } from "@effect-kad/routing"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Datastore } from "interface-datastore"
import type { CID } from "multiformats/cid"
import { toString as uint8ArrayToString } from "uint8arrays/to-string"
import { type FinderEnv, providersOf } from "../internal/content-routing/find-providers.js"
import {
  addProviderMessage,
  classicProvide,
  type JobsPool,
  optimisticProvide,
  type ProvideEnv
} from "../internal/content-routing/optimistic.js"
import { type ProvidedKey, ProvidedKeys } from "../internal/content-routing/provided-keys.js"
import {
  makeCounters,
  type ProvideManyProgress,
  type ProvideManyResult,
  type ReprovideProgress,
  type ReprovideStrategy,
  type SweepEnv,
  startSweeps,
  sweepEntries
} from "../internal/content-routing/sweep.js"
import type { ProviderStoreError } from "../store/errors.js"
import { DEFAULT_PROVIDE_VALIDITY_MILLIS, validateProviderKey } from "../store/provider-store.js"
import { type ProviderStoreFailure, ProviderStoreService } from "../store/service.js"
import { namespaceCid } from "./namespace.js"

/** Default {@link ContentRoutingConfig.reprovideInterval}: 22 hours, the IPFS republish interval. */
export const DEFAULT_REPROVIDE_INTERVAL_MILLIS = 22 * 60 * 60 * 1000

/** Default {@link ContentRoutingConfig.optimisticProvideJobsPoolSize} (go-libp2p-kad-dht: 60). */
export const DEFAULT_OPTIMISTIC_PROVIDE_JOBS_POOL_SIZE = 60

/**
 * Longest TTL {@link ContentRoutingShape.advertise} hands out, and its
 * default: 3 hours, as go-libp2p's routing discovery, which asks
 * advertisers to re-advertise well before provider records expire.
 */
export const DEFAULT_ADVERTISE_TTL_MILLIS = 3 * 60 * 60 * 1000

/** Default {@link FindPeersOptions.limit}, as go-libp2p's routing discovery. */
export const DEFAULT_FIND_PEERS_LIMIT = 100

/** Replication `k` used when no routing table is in context to tell it. */
export const DEFAULT_REPLICATION = 20

/** Keys reprovided at once. */
const REPROVIDE_CONCURRENCY = 8

/** Settings of {@link ContentRouting}. */
export interface ContentRoutingConfig {
  /**
   * How long provider records live on the peers storing them (default
   * 48 hours); {@link ContentRoutingShape.advertise} never hands out a
   * longer TTL.
   */
  readonly provideValidity?: Duration.DurationInput
  /**
   * Time between two re-announcements of everything this node provides
   * (default 22 hours); shorter than `provideValidity`. `Duration.infinity`
   * turns reproviding off.
   */
  readonly reprovideInterval?: Duration.DurationInput
  /** Provide optimistically when a network size estimate is available (default false). */
  readonly optimisticProvide?: boolean
  /**
   * Most ADD_PROVIDER sends that optimistic provides may leave running
   * after returning, across the whole node (default 60).
   */
  readonly optimisticProvideJobsPoolSize?: number
  /**
   * How provided keys are reprovided (default `"sweep"`): `"sweep"` goes
   * through the keys in Kad ID order, one keyspace region at a time, spread
   * over the interval, with a few lookups per region; `"classic"` runs one
   * lookup per key, all keys at once, every interval.
   */
  readonly reprovideStrategy?: ReprovideStrategy
  /**
   * Where the provided keys and the sweep position are kept, so that a
   * restarted node goes on reproviding them (under `/provided`). Absent:
   * memory only, and the application provides again after a restart.
   */
  readonly datastore?: Datastore
}

/** Options of {@link ContentRoutingShape.provideMany}. */
export interface ProvideManyOptions {
  /** Hears the running totals after each keyspace region is announced. */
  readonly onProgress?: (progress: ProvideManyProgress) => Effect.Effect<void>
}

/** Options of {@link ContentRoutingShape.provide}. */
export interface ProvideOptions {
  /**
   * Announce to the peers closest to the key (default true). Without it the
   * node only records itself locally and answers GET_PROVIDERS with itself.
   */
  readonly announce?: boolean
  /** Override the service's `optimisticProvide` setting for this call. */
  readonly optimistic?: boolean
}

/** Options of {@link ContentRoutingShape.findProviders}. */
export interface FindProvidersOptions {
  /**
   * Stop once this many distinct providers were found. `0` or absent runs
   * the lookup to completion and yields every provider found.
   */
  readonly count?: number
}

/** Options of {@link ContentRoutingShape.advertise}. */
export interface AdvertiseOptions {
  /**
   * How long the caller wants to be found. The TTL returned is this,
   * bounded by 3 hours and by the provide validity; absent or not
   * positive means the bound itself.
   */
  readonly ttl?: Duration.DurationInput
}

/** What {@link ContentRoutingShape.advertise} achieved. */
export interface AdvertiseResult {
  /** How long the caller may count on being found before advertising again. */
  readonly ttl: Duration.Duration
  /** Peers the announcement was delivered to. */
  readonly peers: number
}

/** Options of {@link ContentRoutingShape.findPeers}. */
export interface FindPeersOptions {
  /** Most peers yielded (default 100); `0` means all that are found. */
  readonly limit?: number
}

/** Operations of the {@link ContentRouting} service. */
export interface ContentRoutingShape {
  /**
   * Records this node as a provider of `cid` (the DHT key is the CID's
   * multihash) in the local store and, unless `announce` is false, sends
   * ADD_PROVIDER to the `k` peers closest to the key and keeps
   * re-announcing it every reprovide interval. Answers how many peers the
   * announcement was delivered to (optimistic provide may deliver more in
   * the background after returning).
   */
  readonly provide: (cid: CID, options?: ProvideOptions) => Effect.Effect<number, ProviderStoreFailure>
  /**
   * The providers of `cid`: those in the local store first, then those
   * the peers closest to the key report, as they arrive. Each provider comes
   * once, with addresses when any are known. The lookup runs only while the
   * stream is consumed: `Stream.take` or an interruption stops it.
   */
  readonly findProviders: (
    cid: CID,
    options?: FindProvidersOptions
  ) => Stream.Stream<PeerInfo, InvalidKeyError | InvalidOptionError>
  /**
   * Provides the namespace's CID (CIDv1, raw codec, sha256 of the UTF-8
   * name) and answers how long the caller may count on being found before
   * advertising again, and how many peers the announcement reached.
   */
  readonly advertise: (
    namespace: string,
    options?: AdvertiseOptions
  ) => Effect.Effect<AdvertiseResult, ProviderStoreFailure | InvalidOptionError>
  /** The peers that advertised `namespace`, as {@link findProviders} yields them. */
  readonly findPeers: (namespace: string, options?: FindPeersOptions) => Stream.Stream<PeerInfo, InvalidOptionError>
  /**
   * Provides many CIDs at once: records them locally, keeps them for
   * reproviding, and announces them region by region of the keyspace (a
   * few lookups per region instead of one per key), each key to its `k`
   * closest peers. Fails before storing anything when a CID is invalid.
   *
   * @example
   * ```ts
   * const result = yield* content.provideMany(cids, {
   *   onProgress: (p) => Effect.logInfo(`${p.done}/${p.total} keys, ${p.lookups} lookups`)
   * })
   * ```
   */
  readonly provideMany: (
    cids: Iterable<CID>,
    options?: ProvideManyOptions
  ) => Effect.Effect<ProvideManyResult, ProviderStoreFailure>
  /** Re-announces every key provided with `announce` now, one lookup per key; answers how many keys. */
  readonly reprovide: Effect.Effect<number>
  /**
   * Stops reproviding `cid` (and forgets it in the datastore). Records
   * already announced expire by themselves; the local record stays until it
   * does. Answers whether the key was being reprovided.
   */
  readonly stopProviding: (cid: CID) => Effect.Effect<boolean, InvalidKeyError | ProviderStoreError>
  /**
   * Where reproviding stands: keys, progress of the current cycle, cycles
   * that overran their interval, lookups and messages spent.
   *
   * @example
   * ```ts
   * const { keysTotal, doneInCycle, overrunCycles } = yield* content.reprovideProgress
   * ```
   */
  readonly reprovideProgress: Effect.Effect<ReprovideProgress>
  /** The multihash keys this node reprovides. */
  readonly providedKeys: Effect.Effect<ReadonlyArray<Uint8Array>>
}

/**
 * Provider records over the network: provide, reprovide, findProviders
 * and namespace discovery. Needs `PeerRouting`, `Network` and
 * `ProviderStoreService`; uses `NetworkSizeEstimator` (optimistic provide)
 * and `RoutingTable` (`k`, lookup seeds) when they are in context.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const content = yield* ContentRouting
 *   yield* content.provide(cid)
 *   const providers = yield* content.findProviders(cid, { count: 5 }).pipe(Stream.runCollect)
 * })
 * ```
 */
export class ContentRouting extends Context.Tag("@effect-kad/providers/ContentRouting")<
  ContentRouting,
  ContentRoutingShape
>() {
  /** Builds the service; the reprovider and background sends live as long as the scope. */
  static readonly make = (
    config: ContentRoutingConfig = {}
  ): Effect.Effect<
    ContentRoutingShape,
    InvalidOptionError,
    PeerRouting | Network | ProviderStoreService | Scope.Scope
  > => makeContentRouting(config)

  /** The service as a layer. */
  static readonly layer = (
    config: ContentRoutingConfig = {}
  ): Layer.Layer<ContentRouting, InvalidOptionError, PeerRouting | Network | ProviderStoreService> =>
    Layer.scoped(ContentRouting, makeContentRouting(config))
}

const durationMillis = (field: string, input: Duration.DurationInput | undefined, fallback: number) =>
  Effect.suspend(() => {
    if (input === undefined) return Effect.succeed(fallback)
    const decoded = Duration.decodeUnknown(input)
    if (Option.isNone(decoded) || (typeof input === "number" && !(input > 0))) {
      return Effect.fail(new InvalidOptionError({ field, reason: "must be a positive duration" }))
    }
    const millis = Duration.toMillis(decoded.value)
    return millis > 0
      ? Effect.succeed(millis)
      : Effect.fail(new InvalidOptionError({ field, reason: "must be a positive duration" }))
  })

const countOption = (field: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value >= 0
      ? Effect.succeed(value)
      : Effect.fail(new InvalidOptionError({ field, reason: "must be a non-negative integer" }))

const providerKey = (cid: CID): Either.Either<Uint8Array, InvalidKeyError> => {
  const multihash = (cid as Partial<CID> | undefined)?.multihash
  if (multihash === undefined) {
    return Either.left(new InvalidKeyError({ key: new Uint8Array(0), reason: "not a CID" }))
  }
  return validateProviderKey(multihash.bytes)
}

const makeContentRouting = (config: ContentRoutingConfig) =>
  Effect.gen(function* () {
    const validity = yield* durationMillis("provideValidity", config.provideValidity, DEFAULT_PROVIDE_VALIDITY_MILLIS)
    const reprovideEvery = yield* durationMillis(
      "reprovideInterval",
      config.reprovideInterval,
      DEFAULT_REPROVIDE_INTERVAL_MILLIS
    )
    if (Number.isFinite(reprovideEvery) && reprovideEvery >= validity) {
      return yield* new InvalidOptionError({
        field: "reprovideInterval",
        reason: "must be shorter than provideValidity, or records expire between two reprovides"
      })
    }
    const poolSize = config.optimisticProvideJobsPoolSize ?? DEFAULT_OPTIMISTIC_PROVIDE_JOBS_POOL_SIZE
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) {
      return yield* new InvalidOptionError({
        field: "optimisticProvideJobsPoolSize",
        reason: "must be a positive integer"
      })
    }
    const optimisticByDefault = config.optimisticProvide ?? false
    const strategy = config.reprovideStrategy ?? "sweep"
    if (strategy !== "sweep" && strategy !== "classic") {
      return yield* new InvalidOptionError({ field: "reprovideStrategy", reason: 'must be "sweep" or "classic"' })
    }

    const network = yield* Network
    const routing = yield* PeerRouting
    const store = yield* ProviderStoreService
    const estimator = yield* Effect.serviceOption(NetworkSizeEstimator)
    const table = yield* Effect.serviceOption(RoutingTable)
    const background = yield* FiberSet.make<void, never>()
    const pool: JobsPool = { size: poolSize, inUse: 0 }
    const k = Option.match(table, { onNone: () => DEFAULT_REPLICATION, onSome: (t) => t.bucketSize })

    const env: ProvideEnv = {
      network,
      routing,
      k,
      seeds: (target) =>
        Option.match(table, {
          onNone: () => Effect.succeed([]),
          onSome: (t) => Effect.map(t.nearest(target, k), (entries) => entries.map((entry) => entry.id))
        }),
      estimator,
      background,
      pool
    }

    // Keys we announce and keep reannouncing; in the datastore too when there
    // is one, so that a restart goes on reproviding them.
    // An unreadable datastore fails the start: going on would stop reproviding
    // every key stored there without a word.
    const provided = yield* ProvidedKeys.load(config.datastore).pipe(
      Effect.mapError((error) => new InvalidOptionError({ field: "datastore", reason: error.message }))
    )
    const counters = makeCounters()
    const added = yield* Queue.sliding<void>(1)
    const sweepEnv: SweepEnv = { provide: env, keys: provided, store, added }
    const keep = (keys: ReadonlyArray<Uint8Array>) =>
      Effect.tap(provided.add(keys), () => Queue.offer(added, undefined))
    const finder: FinderEnv = { network, routing, store }

    const announce = (key: Uint8Array, self: PeerInfo, optimistic: boolean) =>
      Effect.gen(function* () {
        const message = addProviderMessage(key, self)
        if (optimistic) {
          const sent = yield* optimisticProvide(env, key, message)
          if (Option.isSome(sent)) return sent.value
          yield* Effect.logDebug("no network size estimate for optimistic provide; providing the classic way")
        }
        return yield* classicProvide(env, key, message)
      })

    // Records ourselves locally (with our current addresses) and, when asked
    // to, announces to the closest peers.
    const provideKey = (key: Uint8Array, announced: boolean, optimistic: boolean) =>
      Effect.gen(function* () {
        const self = yield* network.selfInfo
        yield* store.addProvider(key, self)
        return announced ? yield* announce(key, self, optimistic) : 0
      })

    const provide: ContentRoutingShape["provide"] = (cid, options) =>
      Effect.flatMap(providerKey(cid), (key) => {
        const announced = options?.announce ?? true
        const provideIt = provideKey(key, announced, options?.optimistic ?? optimisticByDefault)
        return announced ? Effect.zipRight(keep([key]), provideIt) : provideIt
      }).pipe(Effect.withSpan("ContentRouting.provide"))

    const provideMany: ContentRoutingShape["provideMany"] = (cids, options) =>
      Effect.gen(function* () {
        const keys: Array<Uint8Array> = []
        for (const cid of cids) keys.push(yield* providerKey(cid))
        yield* keep(keys)
        const self = yield* network.selfInfo
        const entries = new Map<string, ProvidedKey>()
        for (const key of keys) {
          yield* store.addProvider(key, self)
          entries.set(uint8ArrayToString(key, "base16"), { key, kadId: kadIdOfKey(key) })
        }
        const sorted = [...entries.values()].sort((a, b) => compareBytes(a.kadId, b.kadId))
        return yield* sweepEntries(sweepEnv, sorted, options?.onProgress ?? (() => Effect.void))
      }).pipe(Effect.withSpan("ContentRouting.provideMany"))

    // The classic way: one lookup per key, every key at once.
    const reprovide: ContentRoutingShape["reprovide"] = Effect.gen(function* () {
      const keys = provided.keys()
      counters.cycleStartMillis = yield* Clock.currentTimeMillis
      counters.doneInCycle = 0
      yield* Effect.forEach(
        keys,
        (key) =>
          // a key whose providing stopped while this cycle ran is left to expire
          Effect.suspend(() => (provided.has(key) ? provideKey(key, true, optimisticByDefault) : Effect.void)).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                counters.doneInCycle++
                counters.lookups++
              })
            ),
            Effect.catchAll((error) =>
              Effect.logWarning("reproviding a key failed").pipe(
                Effect.annotateLogs({ key: printableKey(key), error: error.message })
              )
            )
          ),
        { concurrency: REPROVIDE_CONCURRENCY, discard: true }
      )
      counters.cyclesCompleted++
      if (
        Number.isFinite(reprovideEvery) &&
        (yield* Clock.currentTimeMillis) - counters.cycleStartMillis > reprovideEvery
      ) {
        counters.overrunCycles++
        yield* Effect.logWarning("reprovide cycle cannot finish within its interval").pipe(
          Effect.annotateLogs({ keys: keys.length, intervalMillis: reprovideEvery })
        )
      }
      return keys.length
    }).pipe(Effect.withSpan("ContentRouting.reprovide"))

    if (Number.isFinite(reprovideEvery) && strategy === "sweep") {
      yield* startSweeps(sweepEnv, reprovideEvery, counters)
    } else if (Number.isFinite(reprovideEvery)) {
      yield* Effect.sleep(Duration.millis(reprovideEvery)).pipe(
        Effect.zipRight(reprovide),
        Effect.tap((count) => (count > 0 ? Effect.logDebug(`reprovided ${count} keys`) : Effect.void)),
        Effect.forever,
        Effect.forkScoped
      )
    }

    const findProviders: ContentRoutingShape["findProviders"] = (cid, options) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const key = yield* providerKey(cid)
          const count = yield* countOption("count", options?.count, 0)
          return providersOf(finder, key, count)
        })
      )

    const advertise: ContentRoutingShape["advertise"] = (namespace, options) =>
      Effect.gen(function* () {
        const bound = Math.min(DEFAULT_ADVERTISE_TTL_MILLIS, validity)
        let ttl = bound
        if (options?.ttl !== undefined) {
          const requested = Duration.decodeUnknown(options.ttl)
          if (Option.isNone(requested)) {
            return yield* new InvalidOptionError({ field: "ttl", reason: "not a duration" })
          }
          const millis = Duration.toMillis(requested.value)
          if (millis > 0 && millis < bound) ttl = millis
        }
        const cid = yield* namespaceCid(namespace)
        const peers = yield* provide(cid)
        return { ttl: Duration.millis(ttl), peers } satisfies AdvertiseResult
      }).pipe(Effect.withSpan("ContentRouting.advertise"))

    const findPeers: ContentRoutingShape["findPeers"] = (namespace, options) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const limit = yield* countOption("limit", options?.limit, DEFAULT_FIND_PEERS_LIMIT)
          const cid = yield* namespaceCid(namespace)
          return providersOf(finder, cid.multihash.bytes, limit)
        })
      )

    return {
      provide,
      findProviders,
      advertise,
      findPeers,
      provideMany,
      reprovide,
      stopProviding: (cid) => Effect.flatMap(providerKey(cid), (key) => provided.remove(key)),
      reprovideProgress: Effect.sync(() => ({
        strategy,
        keysTotal: provided.size,
        ...counters
      })),
      providedKeys: Effect.sync(() => provided.keys())
    } satisfies ContentRoutingShape
  })
