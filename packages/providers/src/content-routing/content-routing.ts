/**
 * Content routing: announcing this node as a provider of content
 * (`provide`, with periodic reprovide) and finding the providers of content
 * (`findProviders`), plus namespace discovery on top of both.
 *
 * @module
 */
import {
  InvalidKeyError,
  InvalidOptionError,
  MessageType,
  Network,
  type PeerInfo,
  peerInfoFromWire,
  printableKey
} from "@effect-kad/core"
import {
  type LookupEvent,
  NetworkSizeEstimator,
  PeerRouting,
  type QueryOutcome,
  type QueryProgress,
  RoutingTable
} from "@effect-kad/routing"
import { Context, Duration, Effect, Either, FiberSet, Layer, Option, type Scope, Stream } from "effect"
import type { CID } from "multiformats/cid"
import { DEFAULT_PROVIDE_VALIDITY_MILLIS, validateProviderKey } from "../store/provider-store.js"
import { type ProviderStoreFailure, ProviderStoreService } from "../store/service.js"
import { namespaceCid } from "./namespace.js"
import { addProviderMessage, classicProvide, type JobsPool, optimisticProvide, type ProvideEnv } from "./optimistic.js"

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
  /** Re-announces every key provided with `announce` now; answers how many keys. The reprovider runs this. */
  readonly reprovide: Effect.Effect<number>
  /**
   * Stops reproviding `cid`. Records already announced expire by
   * themselves; the local record stays until it does. Answers whether the
   * key was being reprovided.
   */
  readonly stopProviding: (cid: CID) => Effect.Effect<boolean>
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

const keyHex = (key: Uint8Array): string => {
  let out = ""
  for (const byte of key) out += byte.toString(16).padStart(2, "0")
  return out
}

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

    // Keys we announce and keep reannouncing, by hex, kept in memory only:
    // after a restart the application provides its content again.
    const provided = new Map<string, Uint8Array>()

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
        if (announced) provided.set(keyHex(key), key)
        return provideKey(key, announced, options?.optimistic ?? optimisticByDefault)
      }).pipe(Effect.withSpan("ContentRouting.provide"))

    const reprovide: ContentRoutingShape["reprovide"] = Effect.gen(function* () {
      const keys = [...provided.entries()]
      yield* Effect.forEach(
        keys,
        ([hex, key]) =>
          // a key whose providing stopped while this cycle ran is left to expire
          Effect.suspend(() => (provided.has(hex) ? provideKey(key, true, optimisticByDefault) : Effect.void)).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning("reproviding a key failed").pipe(
                Effect.annotateLogs({ key: printableKey(key), error: error.message })
              )
            )
          ),
        { concurrency: REPROVIDE_CONCURRENCY, discard: true }
      )
      return keys.length
    }).pipe(Effect.withSpan("ContentRouting.reprovide"))

    if (Number.isFinite(reprovideEvery)) {
      yield* Effect.sleep(Duration.millis(reprovideEvery)).pipe(
        Effect.zipRight(reprovide),
        Effect.tap((count) => (count > 0 ? Effect.logDebug(`reprovided ${count} keys`) : Effect.void)),
        Effect.forever,
        Effect.forkScoped
      )
    }

    const getProvidersQuery =
      (key: Uint8Array) =>
      (peer: PeerInfo, progress: QueryProgress): Effect.Effect<QueryOutcome<ReadonlyArray<PeerInfo>>, unknown> =>
        Effect.flatMap(
          routing.query(
            peer.id,
            {
              type: MessageType.GET_PROVIDERS,
              key: key as Uint8Array<ArrayBuffer>,
              closerPeers: [],
              providerPeers: []
            },
            progress
          ),
          (response) =>
            Effect.map(routing.closerPeersFrom(peer.id, response), (closer) => {
              const providers: Array<PeerInfo> = []
              for (const wire of response.providerPeers) {
                const provider = peerInfoFromWire(wire)
                if (provider !== undefined) providers.push(provider)
              }
              return { closer, payload: providers }
            })
        )

    const providersOf = (key: Uint8Array, count: number): Stream.Stream<PeerInfo> =>
      Stream.suspend(() => {
        const seen = new Set<string>()
        const enough = () => count > 0 && seen.size >= count

        // A provider's first sighting wins; addresses it came without are
        // filled from the peer store, ones it came with are remembered there.
        const admit = (provider: PeerInfo): Effect.Effect<Option.Option<PeerInfo>> => {
          const id = provider.id.toString()
          if (seen.has(id) || enough()) return Effect.succeed(Option.none())
          seen.add(id)
          if (provider.multiaddrs.length > 0) {
            return Effect.as(network.rememberAddresses(provider), Option.some(provider))
          }
          return Effect.map(network.addressesOf(provider.id), (multiaddrs) =>
            Option.some<PeerInfo>({ id: provider.id, multiaddrs })
          )
        }

        const local = Stream.fromIterableEffect(
          store
            .getProviders(key)
            .pipe(
              Effect.catchAll((error) =>
                Effect.logWarning("reading local provider records failed").pipe(
                  Effect.annotateLogs({ key: printableKey(key), error: error.message }),
                  Effect.as<Array<PeerInfo>>([])
                )
              )
            )
        ).pipe(
          Stream.mapEffect(admit),
          Stream.filterMap((admitted) => admitted)
        )

        const remote = Stream.asyncPush<PeerInfo>(
          (emit) =>
            routing
              .lookup(
                key,
                getProvidersQuery(key),
                { stopWhen: enough },
                (event: LookupEvent<ReadonlyArray<PeerInfo>, unknown>) =>
                  event._tag === "PeerResponded" && event.outcome.payload !== undefined
                    ? Effect.forEach(
                        event.outcome.payload,
                        (provider) =>
                          Effect.map(admit(provider), (admitted) => {
                            if (Option.isSome(admitted)) emit.single(admitted.value)
                          }),
                        { discard: true }
                      )
                    : Effect.void
              )
              .pipe(Effect.ensuring(Effect.sync(() => emit.end())), Effect.forkScoped),
          { bufferSize: "unbounded" }
        )

        return Stream.concat(
          local,
          Stream.suspend(() => (enough() ? Stream.empty : remote))
        )
      })

    const findProviders: ContentRoutingShape["findProviders"] = (cid, options) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const key = yield* providerKey(cid)
          const count = yield* countOption("count", options?.count, 0)
          return providersOf(key, count)
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
          return providersOf(cid.multihash.bytes, limit)
        })
      )

    return {
      provide,
      findProviders,
      advertise,
      findPeers,
      reprovide,
      stopProviding: (cid) =>
        Effect.sync(() => {
          const key = providerKey(cid)
          return Either.isRight(key) && provided.delete(keyHex(key.right))
        }),
      providedKeys: Effect.sync(() => [...provided.values()])
    } satisfies ContentRoutingShape
  })
