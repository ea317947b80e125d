/**
 * The provider store as an Effect service, with periodic cleanup of expired
 * entries running for as long as the service's scope is open.
 *
 * @module
 */
import { DHTClosedError, InvalidKeyError, InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Datastore } from "interface-datastore"
import { DatastoreProviderStore, type DatastoreProviderStoreOptions } from "./datastore.js"
import { ProviderStoreError } from "./errors.js"
import { MemoryProviderStore, type MemoryProviderStoreOptions } from "./memory.js"
import type { GetProvidersOptions, ProviderStore, ProviderStoreStats } from "./provider-store.js"

/** Why `addProvider` or `getProviders` failed. */
export type ProviderStoreFailure = InvalidKeyError | InvalidOptionError | DHTClosedError | ProviderStoreError

/** Operations of the {@link ProviderStoreService}. */
export interface ProviderStoreServiceShape {
  /** The underlying store, for code that wants the plain Promise interface. */
  readonly store: ProviderStore
  /** See {@link ProviderStore.addProvider}. */
  readonly addProvider: (key: Uint8Array, provider: PeerInfo) => Effect.Effect<void, ProviderStoreFailure>
  /** See {@link ProviderStore.getProviders}. */
  readonly getProviders: (
    key: Uint8Array,
    options?: GetProvidersOptions
  ) => Effect.Effect<Array<PeerInfo>, ProviderStoreFailure>
  /** See {@link ProviderStore.cleanup}. */
  readonly cleanup: Effect.Effect<number, DHTClosedError | ProviderStoreError>
  /** The store's size (see {@link ProviderStore.stats}); `None` for a store that does not count itself. */
  readonly stats: Effect.Effect<Option.Option<ProviderStoreStats>, DHTClosedError | ProviderStoreError>
}

/** Options of the service layers. */
export interface ProviderStoreLayerOptions {
  /**
   * Time between two cleanups of expired entries; the first runs one interval
   * after the layer is built. Default one hour. `Infinity` runs none (the
   * application calls `cleanup` itself).
   */
  readonly cleanupIntervalMillis?: number
}

/** Default {@link ProviderStoreLayerOptions.cleanupIntervalMillis}: one hour. */
export const DEFAULT_PROVIDER_CLEANUP_INTERVAL_MILLIS = 60 * 60 * 1000

type Passed<E> = abstract new (...args: never) => E

// Errors the SDK itself defines pass through with their tag; anything else a
// store throws (a datastore failure, a bug in a user's store) is wrapped.
const failureOf =
  <E>(operation: string, passed: ReadonlyArray<Passed<E>>) =>
  (cause: unknown): E | ProviderStoreError => {
    for (const type of passed) if (cause instanceof type) return cause as E
    return new ProviderStoreError({ operation, cause })
  }

const requestErrors = [InvalidKeyError, InvalidOptionError, DHTClosedError, ProviderStoreError] as const
const cleanupErrors = [DHTClosedError, ProviderStoreError] as const

/** Lifts a plain store into the service's operations, without any background work. */
const wrap = (store: ProviderStore): ProviderStoreServiceShape => {
  const addFailure = failureOf<ProviderStoreFailure>("addProvider", requestErrors)
  const getFailure = failureOf<ProviderStoreFailure>("getProviders", requestErrors)
  // an application's store may have no stats, or a field of that name that is no method
  const stats =
    typeof store.stats === "function"
      ? Effect.tryPromise({
          try: async () => Option.some(await (store as Required<ProviderStore>).stats()),
          catch: failureOf<DHTClosedError | ProviderStoreError>("stats", cleanupErrors)
        })
      : Effect.succeed(Option.none<ProviderStoreStats>())
  return {
    store,
    addProvider: (key, provider) =>
      Effect.tryPromise({ try: () => store.addProvider(key, provider), catch: addFailure }),
    getProviders: (key, options) =>
      Effect.tryPromise({ try: () => store.getProviders(key, options), catch: getFailure }),
    cleanup: Effect.tryPromise({
      try: () => store.cleanup(),
      catch: failureOf<DHTClosedError | ProviderStoreError>("cleanup", cleanupErrors)
    }),
    stats
  }
}

const cleanupInterval = (options: ProviderStoreLayerOptions | undefined): Effect.Effect<number, InvalidOptionError> => {
  const millis = options?.cleanupIntervalMillis ?? DEFAULT_PROVIDER_CLEANUP_INTERVAL_MILLIS
  return typeof millis === "number" && millis > 0
    ? Effect.succeed(millis)
    : Effect.fail(new InvalidOptionError({ field: "cleanupIntervalMillis", reason: "must be a positive number" }))
}

// One cleanup pass; answers whether to keep going. A closed store ends the
// loop quietly (its owner closed it), any other failure is logged and retried
// at the next interval.
const cleanupPass = (service: ProviderStoreServiceShape): Effect.Effect<boolean> =>
  service.cleanup.pipe(
    Effect.tap((removed) =>
      removed > 0 ? Effect.logDebug(`provider store cleanup removed ${removed} entries`) : Effect.void
    ),
    Effect.as(true),
    Effect.catchTag("DHTClosedError", () => Effect.succeed(false)),
    Effect.catchTag("ProviderStoreError", (error) =>
      Effect.logWarning("provider store cleanup failed", error).pipe(Effect.as(true))
    )
  )

const start = (
  store: ProviderStore,
  options: ProviderStoreLayerOptions | undefined
): Effect.Effect<ProviderStoreServiceShape, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const interval = yield* cleanupInterval(options)
    const service = wrap(store)
    if (Number.isFinite(interval)) {
      yield* cleanupPass(service).pipe(
        Effect.delay(Duration.millis(interval)),
        Effect.repeat({ while: (keepGoing) => keepGoing }),
        Effect.forkScoped
      )
    }
    return service
  })

// Stores the layers build themselves read time from the Effect Clock unless
// told otherwise, so TestClock moves their expiry too.
const clockNow = Effect.map(Effect.clock, (clock) => () => clock.unsafeCurrentTimeMillis())

const owned = (
  create: () => ProviderStore,
  options: ProviderStoreLayerOptions | undefined
): Effect.Effect<ProviderStoreServiceShape, InvalidOptionError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: create,
      catch: (cause) =>
        cause instanceof InvalidOptionError
          ? cause
          : new InvalidOptionError({ field: "options", reason: String(cause) })
    }),
    (store) =>
      Effect.tryPromise(() => store.close()).pipe(
        Effect.catchAll((error) => Effect.logWarning("closing the provider store failed", error))
      )
  ).pipe(Effect.flatMap((store) => start(store, options)))

/**
 * Provider storage for the DHT's `ADD_PROVIDER` / `GET_PROVIDERS` handling
 * and for `provide`, with typed failures.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const providers = yield* ProviderStoreService
 *   yield* providers.addProvider(cid.multihash.bytes, { id: peerId, multiaddrs })
 *   return yield* providers.getProviders(cid.multihash.bytes, { limit: 20 })
 * })
 * program.pipe(Effect.provide(ProviderStoreService.layerMemory()), Effect.runPromise)
 * ```
 */
export class ProviderStoreService extends Context.Tag("@effect-kad/providers/ProviderStore")<
  ProviderStoreService,
  ProviderStoreServiceShape
>() {
  /**
   * The service over `store`, cleaning it up periodically while `Scope` is
   * open. The caller owns `store`: it is not closed with the scope.
   */
  static make(
    store: ProviderStore,
    options?: ProviderStoreLayerOptions
  ): Effect.Effect<ProviderStoreServiceShape, InvalidOptionError, Scope.Scope> {
    return start(store, options)
  }

  /**
   * A layer over a store the application created (for instance its own
   * implementation of {@link ProviderStore}). Periodic cleanup runs while the
   * layer is alive; the store is left open when the layer is released.
   */
  static layer(
    store: ProviderStore,
    options?: ProviderStoreLayerOptions
  ): Layer.Layer<ProviderStoreService, InvalidOptionError> {
    return Layer.scoped(ProviderStoreService, start(store, options))
  }

  /**
   * A layer with its own {@link MemoryProviderStore}, closed when the layer is
   * released. Without `now` the store reads the Effect `Clock`.
   */
  static layerMemory(
    options?: MemoryProviderStoreOptions & ProviderStoreLayerOptions
  ): Layer.Layer<ProviderStoreService, InvalidOptionError> {
    return Layer.scoped(
      ProviderStoreService,
      Effect.flatMap(clockNow, (now) =>
        owned(() => new MemoryProviderStore({ now, ...withoutUndefined(options) }), options)
      )
    )
  }

  /**
   * A layer with its own {@link DatastoreProviderStore} over `datastore`. The
   * provider store is closed when the layer is released; the datastore, which
   * the caller opened, is left for the caller to close. Without `now` the
   * store reads the Effect `Clock`.
   */
  static layerDatastore(
    datastore: Datastore,
    options?: DatastoreProviderStoreOptions & ProviderStoreLayerOptions
  ): Layer.Layer<ProviderStoreService, InvalidOptionError> {
    return Layer.scoped(
      ProviderStoreService,
      Effect.flatMap(clockNow, (now) =>
        owned(() => new DatastoreProviderStore(datastore, { now, ...withoutUndefined(options) }), options)
      )
    )
  }
}

// `{ now: undefined }` in the caller's options must not override the clock default.
const withoutUndefined = <A extends object>(options: A | undefined): Partial<A> => {
  const out: Partial<A> = {}
  if (options === undefined) return out
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) (out as Record<string, unknown>)[name] = value
  }
  return out
}
