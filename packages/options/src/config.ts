/**
 * `DHTConfig`: the resolved configuration every DHT component reads, with
 * every field present, durations as `Duration`s and bootstrap peers as
 * `PeerInfo`s, and the `Schema` that produces it from {@link DHTOptions}.
 *
 * @module
 */
import {
  type AddressFilter,
  InvalidOptionError,
  NamespacedValidator,
  type PeerInfo,
  type RetryPolicy,
  type Validator
} from "@effect-kad/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Datastore } from "interface-datastore"
import { AddressFilterSchema } from "./addresses.js"
import type { DHTOption } from "./combinators.js"
import { isDHTOption } from "./combinators.js"
import {
  BootstrapPeers,
  BootstrapPeersFuncSchema,
  DatastoreSchema,
  DurationField,
  decodeBootstrapPeer,
  FiniteDurationSelf,
  Flag,
  IntAtLeast,
  Mode,
  mergePeers,
  NamespacedValidatorsSchema,
  NumberAtLeast,
  PeerFilterSchema,
  PositiveDurationSelf,
  ProtocolPrefix,
  ProviderStoreSchema,
  RequestHookSchema,
  show,
  ValidatorField
} from "./fields.js"
import { MetricsPrefixSchema } from "./metrics.js"
import { DHTMode } from "./mode.js"
import type { BootstrapPeerInput, DHTOptions, PeerFilter, ProviderStoreLike, RequestHook } from "./options.js"

const ReprovideStrategy = Schema.Literal("sweep", "classic").annotations({
  message: (issue) => ({ message: `must be "sweep" or "classic", got ${JSON.stringify(issue.actual)}`, override: true })
})

/**
 * The resolved configuration. Build it with {@link resolveOptions} or
 * `DHTConfig.fromOptions`; never by hand, so it is always valid.
 */
export interface DHTConfig {
  readonly mode: DHTMode
  /** k. */
  readonly bucketSize: number
  /** alpha. */
  readonly concurrency: number
  /** beta; never more than `bucketSize`. */
  readonly resiliency: number
  readonly provideValidity: Duration.Duration
  readonly providerAddrTTL: Duration.Duration
  readonly autoRefresh: boolean
  readonly refreshInterval: Duration.Duration
  /** One entry per peer, addresses without the `/p2p/` suffix. */
  readonly bootstrapPeers: ReadonlyArray<PeerInfo>
  /** Attempts per request, the first included; at least 1. */
  readonly maxRetryAttempts: number
  readonly retryInitialBackoff: Duration.Duration
  /** Never less than `retryInitialBackoff`. */
  readonly retryMaxBackoff: Duration.Duration
  readonly retryBackoffFactor: number
  readonly filterLocalhostInResponses: boolean
  /** None: chosen by the protocol, see `effectiveAddressFilter`. */
  readonly addressFilter: Option.Option<AddressFilter>
  readonly metricsPrefix: string
  readonly protocolPrefix: string
  readonly maxRecordAge: Duration.Duration
  /** None: no cap beyond the buckets themselves. */
  readonly maxRoutingTableSize: Option.Option<number>
  readonly lookupCheckConcurrency: number
  readonly ipDiversityFilter: boolean
  readonly enableOptimisticProvide: boolean
  readonly optimisticProvideJobsPoolSize: number
  /** Always shorter than `provideValidity`. */
  readonly reprovideInterval: Duration.Duration
  readonly reprovideStrategy: "sweep" | "classic"
  readonly requestTimeout: Duration.Duration
  /** Shortest time a lookup waits for a peer's answer before going on without it. */
  readonly queryDeadlineFloor: Duration.Duration
  /** Longest such wait; never more than `requestTimeout`. */
  readonly queryDeadlineCeiling: Duration.Duration
  /** Time a lookup gives a dial before going on without the peer (the dial itself goes on to `requestTimeout`). */
  readonly dialTimeout: Duration.Duration
  /** How long an operation on an empty routing table waits for peers before it runs (or fails) without them. */
  readonly emptyTableWait: Duration.Duration
  /** None: the DHT builds its in-memory provider store. */
  readonly providerStore: Option.Option<ProviderStoreLike>
  /** None: the DHT uses an in-memory datastore. */
  readonly datastore: Option.Option<Datastore>
  /** None: the DHT's default `/pk` and `/ipns` validators. */
  readonly validator: Option.Option<Validator>
  /** None: every peer is allowed. */
  readonly peerFilter: Option.Option<PeerFilter>
  /** None: lookups may query every peer. */
  readonly queryFilter: Option.Option<PeerFilter>
  /** None: every peer may enter the routing table. */
  readonly routingTableFilter: Option.Option<PeerFilter>
  /** None: the fixed `bootstrapPeers` list. */
  readonly bootstrapPeersFunc: Option.Option<() => ReadonlyArray<BootstrapPeerInput>>
  /** None: no hook. */
  readonly onRequestHook: Option.Option<RequestHook>
  readonly disableValues: boolean
  readonly disableProviders: boolean
  readonly refreshQueryTimeout: Duration.Duration
  /** Validators added by namespace; empty by default. */
  readonly namespacedValidators: Readonly<Record<string, Validator>>
}

/**
 * The Amino DHT defaults (the public IPFS network), as go-libp2p-kad-dht
 * sets them, completed with the developer guide's retry settings:
 *
 * | field | default | source |
 * | --- | --- | --- |
 * | mode | `"auto"` | go `ModeAuto` |
 * | bucketSize (k) | 20 | go/js, spec |
 * | concurrency (alpha) | 10 | go amino |
 * | resiliency (beta) | 3 | go amino |
 * | provideValidity | 48 h | go amino |
 * | providerAddrTTL | 24 h | go amino |
 * | autoRefresh / refreshInterval | true / 10 min | go |
 * | maxRetryAttempts | 3 | the guide's library |
 * | retryInitialBackoff | 500 ms | the guide's library |
 * | retryMaxBackoff | 30 s | the guide's library |
 * | retryBackoffFactor | 2 | the guide's library |
 * | filterLocalhostInResponses | true | the guide's library |
 * | addressFilter | none: public addresses only, every address on a LAN DHT | go/js |
 * | metricsPrefix | `"libp2p_kad_dht"` | js |
 * | protocolPrefix | `"/ipfs"` | go/js |
 * | maxRecordAge | 36 h | go `MaxRecordAge` |
 * | maxRoutingTableSize | none | go has no table-wide cap |
 * | lookupCheckConcurrency | 256 | go |
 * | enableOptimisticProvide / optimisticProvideJobsPoolSize | false / 60 | go |
 * | reprovideInterval | 22 h | go/boxo reprovider |
 * | reprovideStrategy | `"sweep"` | go's sweeping provider |
 * | requestTimeout | 10 s | go's message read timeout |
 * | queryDeadlineFloor / queryDeadlineCeiling | 500 ms / 5 s | bounds of the adaptive per-peer deadline (p90 × 2 of recent answers) |
 * | dialTimeout | 5 s | js-libp2p's dial timeout |
 * | emptyTableWait | 5 s | as `@libp2p/kad-dht` waits for its first self-query |
 * | disableValues / disableProviders | false / false | go |
 * | refreshQueryTimeout | 10 s | go `RoutingTableRefreshQueryTimeout` |
 */
const defaults: DHTConfig = Object.freeze({
  mode: DHTMode.auto,
  bucketSize: 20,
  concurrency: 10,
  resiliency: 3,
  provideValidity: Duration.hours(48),
  providerAddrTTL: Duration.hours(24),
  autoRefresh: true,
  refreshInterval: Duration.minutes(10),
  bootstrapPeers: Object.freeze([]),
  maxRetryAttempts: 3,
  retryInitialBackoff: Duration.millis(500),
  retryMaxBackoff: Duration.seconds(30),
  retryBackoffFactor: 2,
  filterLocalhostInResponses: true,
  addressFilter: Option.none(),
  metricsPrefix: "libp2p_kad_dht",
  protocolPrefix: "/ipfs",
  maxRecordAge: Duration.hours(36),
  maxRoutingTableSize: Option.none(),
  lookupCheckConcurrency: 256,
  ipDiversityFilter: false,
  enableOptimisticProvide: false,
  optimisticProvideJobsPoolSize: 60,
  reprovideInterval: Duration.hours(22),
  reprovideStrategy: "sweep",
  requestTimeout: Duration.seconds(10),
  queryDeadlineFloor: Duration.millis(500),
  queryDeadlineCeiling: Duration.seconds(5),
  dialTimeout: Duration.seconds(5),
  emptyTableWait: Duration.seconds(5),
  providerStore: Option.none(),
  datastore: Option.none(),
  validator: Option.none(),
  peerFilter: Option.none(),
  queryFilter: Option.none(),
  routingTableFilter: Option.none(),
  bootstrapPeersFunc: Option.none(),
  onRequestHook: Option.none(),
  disableValues: false,
  disableProviders: false,
  refreshQueryTimeout: Duration.seconds(10),
  namespacedValidators: Object.freeze({})
})

const withDefault = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Schema.optionalWith(schema, { default: () => value })

const PositiveDuration = DurationField(PositiveDurationSelf)

/**
 * Checks that involve several fields; they run once every field is valid
 * and report the field that should change.
 */
const crossFieldIssues = (config: DHTConfig): Array<Schema.FilterIssue> => {
  const issues: Array<Schema.FilterIssue> = []
  if (config.resiliency > config.bucketSize) {
    issues.push({
      path: ["resiliency"],
      message: `must not exceed bucketSize (${config.bucketSize}): a lookup cannot wait for more answers than the k closest peers, got ${config.resiliency}`
    })
  }
  if (Duration.lessThan(config.retryMaxBackoff, config.retryInitialBackoff)) {
    issues.push({
      path: ["retryMaxBackoff"],
      message: `must be at least retryInitialBackoff (${Duration.format(config.retryInitialBackoff)}), got ${Duration.format(config.retryMaxBackoff)}`
    })
  }
  if (Option.isSome(config.maxRoutingTableSize) && config.maxRoutingTableSize.value < config.bucketSize) {
    issues.push({
      path: ["maxRoutingTableSize"],
      message: `must be at least bucketSize (${config.bucketSize}) so a lookup can start from k peers, got ${config.maxRoutingTableSize.value}`
    })
  }
  if (Duration.lessThan(config.queryDeadlineCeiling, config.queryDeadlineFloor)) {
    issues.push({
      path: ["queryDeadlineCeiling"],
      message: `must be at least queryDeadlineFloor (${Duration.format(config.queryDeadlineFloor)}), got ${Duration.format(config.queryDeadlineCeiling)}`
    })
  }
  if (Duration.greaterThanOrEqualTo(config.reprovideInterval, config.provideValidity)) {
    issues.push({
      path: ["reprovideInterval"],
      message: `must be shorter than provideValidity (${Duration.format(config.provideValidity)}) or provider records lapse between announcements, got ${Duration.format(config.reprovideInterval)}`
    })
  }
  if (config.bootstrapPeers.length > 0 && Option.isSome(config.bootstrapPeersFunc)) {
    issues.push({
      path: ["bootstrapPeersFunc"],
      message: "cannot be set together with bootstrapPeers: give either a fixed list or a function"
    })
  }
  if (
    Object.keys(config.namespacedValidators).length > 0 &&
    Option.isSome(config.validator) &&
    !(config.validator.value instanceof NamespacedValidator)
  ) {
    issues.push({
      path: ["namespacedValidators"],
      message:
        "cannot be added to a validator that is not a NamespacedValidator (it routes every key itself); register the namespaces on it instead"
    })
  }
  return issues
}

/**
 * Decodes {@link DHTOptions} into a {@link DHTConfig}: checks every field,
 * fills in the defaults, then checks the relations between fields.
 */
export const DHTOptionsSchema: Schema.Schema<DHTConfig, DHTOptions> = Schema.Struct({
  mode: withDefault(Mode, defaults.mode),
  bucketSize: withDefault(IntAtLeast(1), defaults.bucketSize),
  concurrency: withDefault(IntAtLeast(1), defaults.concurrency),
  resiliency: withDefault(IntAtLeast(1), defaults.resiliency),
  provideValidity: withDefault(PositiveDuration, defaults.provideValidity),
  providerAddrTTL: withDefault(PositiveDuration, defaults.providerAddrTTL),
  autoRefresh: withDefault(Flag, defaults.autoRefresh),
  refreshInterval: withDefault(PositiveDuration, defaults.refreshInterval),
  bootstrapPeers: withDefault(BootstrapPeers, defaults.bootstrapPeers),
  maxRetryAttempts: withDefault(IntAtLeast(1), defaults.maxRetryAttempts),
  retryInitialBackoff: withDefault(DurationField(FiniteDurationSelf), defaults.retryInitialBackoff),
  retryMaxBackoff: withDefault(DurationField(FiniteDurationSelf), defaults.retryMaxBackoff),
  retryBackoffFactor: withDefault(NumberAtLeast(1), defaults.retryBackoffFactor),
  filterLocalhostInResponses: withDefault(Flag, defaults.filterLocalhostInResponses),
  addressFilter: Schema.optionalWith(AddressFilterSchema, { as: "Option" }),
  metricsPrefix: withDefault(MetricsPrefixSchema, defaults.metricsPrefix),
  protocolPrefix: withDefault(ProtocolPrefix, defaults.protocolPrefix),
  maxRecordAge: withDefault(PositiveDuration, defaults.maxRecordAge),
  maxRoutingTableSize: Schema.optionalWith(IntAtLeast(1), { as: "Option" }),
  lookupCheckConcurrency: withDefault(IntAtLeast(1), defaults.lookupCheckConcurrency),
  ipDiversityFilter: withDefault(Flag, defaults.ipDiversityFilter),
  enableOptimisticProvide: withDefault(Flag, defaults.enableOptimisticProvide),
  optimisticProvideJobsPoolSize: withDefault(IntAtLeast(1), defaults.optimisticProvideJobsPoolSize),
  reprovideInterval: withDefault(PositiveDuration, defaults.reprovideInterval),
  reprovideStrategy: withDefault(ReprovideStrategy, defaults.reprovideStrategy),
  requestTimeout: withDefault(PositiveDuration, defaults.requestTimeout),
  queryDeadlineFloor: withDefault(PositiveDuration, defaults.queryDeadlineFloor),
  queryDeadlineCeiling: withDefault(PositiveDuration, defaults.queryDeadlineCeiling),
  dialTimeout: withDefault(PositiveDuration, defaults.dialTimeout),
  emptyTableWait: withDefault(DurationField(FiniteDurationSelf), defaults.emptyTableWait),
  providerStore: Schema.optionalWith(ProviderStoreSchema, { as: "Option" }),
  datastore: Schema.optionalWith(DatastoreSchema, { as: "Option" }),
  validator: Schema.optionalWith(ValidatorField, { as: "Option" }),
  peerFilter: Schema.optionalWith(PeerFilterSchema, { as: "Option" }),
  queryFilter: Schema.optionalWith(PeerFilterSchema, { as: "Option" }),
  routingTableFilter: Schema.optionalWith(PeerFilterSchema, { as: "Option" }),
  bootstrapPeersFunc: Schema.optionalWith(BootstrapPeersFuncSchema, { as: "Option" }),
  onRequestHook: Schema.optionalWith(RequestHookSchema, { as: "Option" }),
  disableValues: withDefault(Flag, defaults.disableValues),
  disableProviders: withDefault(Flag, defaults.disableProviders),
  refreshQueryTimeout: withDefault(PositiveDuration, defaults.refreshQueryTimeout),
  namespacedValidators: withDefault(NamespacedValidatorsSchema, defaults.namespacedValidators)
}).pipe(Schema.filter(crossFieldIssues, { identifier: "DHTOptions" }))

/** Validates an already resolved {@link DHTConfig} (the type side of {@link DHTOptionsSchema}). */
export const DHTConfigSchema: Schema.Schema<DHTConfig> = Schema.typeSchema(DHTOptionsSchema)

const renderPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, segment) =>
      typeof segment === "number" ? `${acc}[${segment}]` : acc === "" ? String(segment) : `${acc}.${String(segment)}`,
    ""
  )

/** Turns the first issue of a parse error into an {@link InvalidOptionError} naming its field. */
export const toInvalidOptionError = (error: ParseResult.ParseError): InvalidOptionError => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return new InvalidOptionError({ field: "options", reason: error.message })
  const field = issue.path.length === 0 ? "options" : renderPath(issue.path)
  const reason = issue._tag === "Unexpected" ? "is not a DHT option (check its spelling)" : issue.message
  return new InvalidOptionError({ field, reason })
}

const decodeOptions = Schema.decodeUnknownEither(DHTOptionsSchema, { onExcessProperty: "error", errors: "first" })
const validateConfig = Schema.validateEither(DHTConfigSchema, { onExcessProperty: "error", errors: "first" })

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The validator a config asks for: `validator` with the
 * `namespacedValidators` added (a new `NamespacedValidator`, so the
 * caller's is left as it was); None leaves the DHT's defaults.
 */
const effectiveValidator = (config: DHTConfig): Option.Option<Validator> => {
  const added = Object.entries(config.namespacedValidators)
  if (added.length === 0) return config.validator
  const combined = new NamespacedValidator()
  if (Option.isSome(config.validator) && config.validator.value instanceof NamespacedValidator) {
    const base = config.validator.value
    for (const ns of base.namespaces()) {
      const v = base.getValidator(ns)
      if (v !== undefined) combined.addValidator(ns, v)
    }
  }
  for (const [ns, v] of added) combined.addValidator(ns, v)
  return Option.some(combined)
}

/**
 * The bootstrap peers of a config, read when called: the fixed list, or
 * what `bootstrapPeersFunc` returns now (entries that cannot be read, or a
 * function that throws, give no peers rather than an error in the
 * background work that asks).
 */
const currentBootstrapPeers = (config: DHTConfig): (() => ReadonlyArray<PeerInfo>) =>
  Option.match(config.bootstrapPeersFunc, {
    onNone: () => () => config.bootstrapPeers,
    onSome: (f) => () => {
      let inputs: ReadonlyArray<BootstrapPeerInput>
      try {
        inputs = f()
      } catch {
        return []
      }
      if (!Array.isArray(inputs)) return []
      return mergePeers(
        inputs.flatMap((input) =>
          Either.getOrElse(
            Either.map(decodeBootstrapPeer(input), (p) => [p]),
            () => []
          )
        )
      )
    }
  })

/**
 * Folds a list of {@link DHTOption}s into one {@link DHTOptions} object; a
 * later option overrides an earlier one that sets the same field.
 */
export const foldOptions = (options: ReadonlyArray<DHTOption>): Either.Either<DHTOptions, InvalidOptionError> => {
  const merged: Record<string, unknown> = {}
  for (let i = 0; i < options.length; i++) {
    const option: unknown = options[i]
    if (!isDHTOption(option)) {
      return Either.left(
        new InvalidOptionError({
          field: `options[${i}]`,
          reason: "is not a DHTOption; build options with the combinators, such as bucketSize(20)"
        })
      )
    }
    const before = merged.namespacedValidators
    Object.assign(merged, option.patch)
    // each namespacedValidator(ns, v) adds a namespace rather than replacing the ones before
    if (isPlainObject(before) && isPlainObject(option.patch.namespacedValidators)) {
      merged.namespacedValidators = { ...before, ...option.patch.namespacedValidators }
    }
  }
  return Either.right(merged as DHTOptions)
}

/**
 * Resolves user options (a list of {@link DHTOption}s, a {@link DHTOptions}
 * object, or nothing) into a validated {@link DHTConfig}.
 *
 * @example
 * ```ts
 * const config = resolveOptions([mode(DHTMode.client), bucketSize(15)])
 * if (Either.isLeft(config)) console.error(config.left.message) // "invalid option bucketSize: ..."
 * ```
 */
export const resolveOptions = (
  input?: ReadonlyArray<DHTOption> | DHTOptions | undefined
): Either.Either<DHTConfig, InvalidOptionError> => {
  if (input === undefined) return Either.right(defaults)
  const options: Either.Either<unknown, InvalidOptionError> = Array.isArray(input)
    ? foldOptions(input)
    : typeof input === "object" && input !== null
      ? Either.right(input)
      : Either.left(
          new InvalidOptionError({
            field: "options",
            reason: `must be a DHTOptions object or an array of DHTOption, got ${show(input)}`
          })
        )
  return Either.flatMap(options, (object) => Either.mapLeft(decodeOptions(object), toInvalidOptionError))
}

/** The protocol ID spoken for a prefix: `/ipfs` gives `/ipfs/kad/1.0.0`. */
export const kadProtocol = (protocolPrefix: string): string => `${protocolPrefix}/kad/1.0.0`

/**
 * Companion of the {@link DHTConfig} type: its defaults, schema and
 * constructors.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const config = yield* DHTConfig.fromOptions({ mode: DHTMode.server, bucketSize: 30 })
 *   yield* Effect.log(`speaking ${DHTConfig.protocol(config)}`)
 * })
 * ```
 */
export const DHTConfig = {
  /** The Amino defaults: what `resolveOptions(undefined)` returns. */
  defaults,
  /** The schema of a resolved config. */
  schema: DHTConfigSchema,
  /** {@link resolveOptions} as an Effect. */
  fromOptions: (
    input?: ReadonlyArray<DHTOption> | DHTOptions | undefined
  ): Effect.Effect<DHTConfig, InvalidOptionError> => Effect.suspend(() => resolveOptions(input)),
  /** Checks a resolved config again, for configs that went through user code. */
  validate: (config: DHTConfig): Either.Either<DHTConfig, InvalidOptionError> =>
    Either.mapLeft(validateConfig(config), toInvalidOptionError),
  /** The protocol ID of a config: `<protocolPrefix>/kad/1.0.0`. */
  protocol: (config: DHTConfig): string => kadProtocol(config.protocolPrefix),
  /** The record validator a config asks for, `namespacedValidators` included; None: the DHT's defaults. */
  validator: effectiveValidator,
  /** A function giving the bootstrap peers of a config when called (`bootstrapPeersFunc` asked anew each time). */
  bootstrapPeers: currentBootstrapPeers,
  /** The per-request retry policy of a config, for core's `withRetry` / `retrySchedule`. */
  retryPolicy: (config: DHTConfig): RetryPolicy => ({
    maxAttempts: config.maxRetryAttempts,
    initialBackoff: config.retryInitialBackoff,
    maxBackoff: config.retryMaxBackoff,
    backoffFactor: config.retryBackoffFactor
  })
} as const
