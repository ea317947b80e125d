/**
 * `DHTConfig`: the resolved configuration every DHT component reads, with
 * every field present, durations as `Duration`s and bootstrap peers as
 * `PeerInfo`s, and the `Schema` that produces it from {@link DHTOptions}.
 *
 * @module
 */
import type { AddressFilter } from "@effect-kad/core"
import { InvalidOptionError, type PeerInfo, type RetryPolicy, type Validator } from "@effect-kad/core"
import { Duration, Effect, Either, Option, ParseResult, Schema } from "effect"
import type { Datastore } from "interface-datastore"
import { AddressFilterSchema } from "./addresses.js"
import type { DHTOption } from "./combinators.js"
import { isDHTOption } from "./combinators.js"
import {
  BootstrapPeers,
  DatastoreSchema,
  DurationField,
  FiniteDurationSelf,
  Flag,
  IntAtLeast,
  Mode,
  NumberAtLeast,
  PeerFilterSchema,
  PositiveDurationSelf,
  ProtocolPrefix,
  ProviderStoreSchema,
  show,
  ValidatorField
} from "./fields.js"
import { MetricsPrefixSchema } from "./metrics.js"
import { DHTMode } from "./mode.js"
import type { DHTOptions, PeerFilter, ProviderStoreLike } from "./options.js"

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
 * | retryMaxBackoff | 10 s | equal to the request timeout, so no pause outlasts a request |
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
 * | requestTimeout | 10 s | go's message read timeout |
 * | queryDeadlineFloor / queryDeadlineCeiling | 500 ms / 5 s | bounds of the adaptive per-peer deadline (p90 × 2 of recent answers) |
 * | dialTimeout | 5 s | js-libp2p's dial timeout |
 * | emptyTableWait | 5 s | as `@libp2p/kad-dht` waits for its first self-query |
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
  retryMaxBackoff: Duration.seconds(10),
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
  requestTimeout: Duration.seconds(10),
  queryDeadlineFloor: Duration.millis(500),
  queryDeadlineCeiling: Duration.seconds(5),
  dialTimeout: Duration.seconds(5),
  emptyTableWait: Duration.seconds(5),
  providerStore: Option.none(),
  datastore: Option.none(),
  validator: Option.none(),
  peerFilter: Option.none()
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
  requestTimeout: withDefault(PositiveDuration, defaults.requestTimeout),
  queryDeadlineFloor: withDefault(PositiveDuration, defaults.queryDeadlineFloor),
  queryDeadlineCeiling: withDefault(PositiveDuration, defaults.queryDeadlineCeiling),
  dialTimeout: withDefault(PositiveDuration, defaults.dialTimeout),
  emptyTableWait: withDefault(DurationField(FiniteDurationSelf), defaults.emptyTableWait),
  providerStore: Schema.optionalWith(ProviderStoreSchema, { as: "Option" }),
  datastore: Schema.optionalWith(DatastoreSchema, { as: "Option" }),
  validator: Schema.optionalWith(ValidatorField, { as: "Option" }),
  peerFilter: Schema.optionalWith(PeerFilterSchema, { as: "Option" })
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
    Object.assign(merged, option.patch)
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
  /** The per-request retry policy of a config, for core's `withRetry` / `retrySchedule`. */
  retryPolicy: (config: DHTConfig): RetryPolicy => ({
    maxAttempts: config.maxRetryAttempts,
    initialBackoff: config.retryInitialBackoff,
    maxBackoff: config.retryMaxBackoff,
    backoffFactor: config.retryBackoffFactor
  })
} as const
