/**
 * Schemas of the individual option fields: how each input form is checked
 * and turned into its resolved form, with messages that say what is wrong.
 *
 * @module
 */
import { NamespacedValidator, type PeerInfo, type Validator } from "@effect-kad/core"
import { isPeerId, type PeerId } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import { type Component, isMultiaddr, type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Datastore } from "interface-datastore"
import { DHTMode, dhtModes } from "./mode.js"
import type {
  BootstrapPeerInput,
  PeerFilter,
  PeerInfoInput,
  ProviderStoreLike,
  RequestHook,
  ValidatorInput
} from "./options.js"

/** Renders an offending value for an error message, briefly. */
export const show = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value)
    case "number":
    case "boolean":
    case "undefined":
      return String(value)
    case "bigint":
      return `${value}n`
    case "function":
      return "a function"
    case "symbol":
      return value.toString()
    default:
      if (value === null) return "null"
      if (Duration.isDuration(value)) return `Duration(${Duration.format(value)})`
      if (isMultiaddr(value)) return `Multiaddr(${value.toString()})`
      if (Array.isArray(value)) return `an array of ${value.length}`
      return "an object"
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const hasMethods = (value: unknown, names: ReadonlyArray<string>): boolean =>
  isRecord(value) && names.every((name) => typeof value[name] === "function")

// ---------------------------------------------------------------------------
// scalars

/** An integer of at least `min`. */
export const IntAtLeast = (min: number): Schema.Schema<number> => {
  const message = (issue: ParseResult.ParseIssue) => `must be an integer of at least ${min}, got ${show(issue.actual)}`
  return Schema.Number.annotations({ message }).pipe(Schema.filter((n) => Number.isInteger(n) && n >= min, { message }))
}

/** A finite number of at least `min`. */
export const NumberAtLeast = (min: number): Schema.Schema<number> => {
  const message = (issue: ParseResult.ParseIssue) =>
    `must be a finite number of at least ${min}, got ${show(issue.actual)}`
  return Schema.Number.annotations({ message }).pipe(Schema.filter((n) => Number.isFinite(n) && n >= min, { message }))
}

/** `true` or `false`. */
export const Flag: Schema.Schema<boolean> = Schema.Boolean.annotations({
  message: (issue) => `must be true or false, got ${show(issue.actual)}`
})

/** One of the {@link DHTMode}s. */
export const Mode: Schema.Schema<DHTMode> = Schema.Literal(
  DHTMode.client,
  DHTMode.server,
  DHTMode.auto,
  DHTMode.autoServer
).annotations({
  // override: a union would otherwise report only its first member's mismatch
  message: (issue) => ({
    message: `must be one of ${dhtModes.map((m) => `"${m}"`).join(", ")}, got ${show(issue.actual)}`,
    override: true
  })
})

const PROTOCOL_PREFIX = /^(\/[^/\s]+)+$/

/** A protocol prefix: one or more `/segment`s without whitespace, such as `/ipfs` or `/myapp/lan`. */
export const ProtocolPrefix: Schema.Schema<string> = Schema.String.annotations({
  message: (issue) => `must be a string such as "/ipfs", got ${show(issue.actual)}`
}).pipe(
  Schema.filter((prefix) => PROTOCOL_PREFIX.test(prefix), {
    message: (issue) =>
      `must be one or more "/name" segments without spaces or a trailing "/" (such as "/myapp"), got ${show(issue.actual)}`
  })
)

// ---------------------------------------------------------------------------
// durations

const DURATION_STRING = /^\s*-?\d+(\.\d+)?\s+(nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)\s*$/

const isDurationShaped = (value: unknown): value is Duration.DurationInput =>
  Duration.isDuration(value) ||
  typeof value === "number" ||
  typeof value === "bigint" ||
  typeof value === "string" ||
  (Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === "number"))

/**
 * Reads a duration input. Effect's own `Duration.decode` quietly turns NaN
 * and negative inputs into zero, which would hide configuration mistakes;
 * they are refused here instead.
 */
export const decodeDurationInput = (input: Duration.DurationInput): Either.Either<Duration.Duration, string> => {
  if (Duration.isDuration(input)) return Either.right(input)
  if (typeof input === "number") {
    if (Number.isNaN(input)) return Either.left("must be a number of milliseconds, got NaN")
    if (input < 0) return Either.left(`must not be negative, got ${input} ms`)
    return Either.right(Duration.millis(input))
  }
  if (typeof input === "bigint") {
    if (input < 0n) return Either.left(`must not be negative, got ${input} ns`)
    return Either.right(Duration.nanos(input))
  }
  if (typeof input === "string") {
    if (!DURATION_STRING.test(input)) {
      return Either.left(`must be a number and a unit such as "10 minutes" or "500 millis", got ${show(input)}`)
    }
    if (input.trimStart().startsWith("-")) return Either.left(`must not be negative, got ${show(input)}`)
    return Either.right(Duration.decode(input.trim() as Duration.DurationInput))
  }
  const [seconds, nanos] = input
  if (Number.isNaN(seconds) || Number.isNaN(nanos)) return Either.left("must not contain NaN")
  if (seconds < 0 || nanos < 0) return Either.left(`must not be negative, got [${seconds}, ${nanos}]`)
  return Either.right(Duration.decode(input))
}

const DurationInputSchema: Schema.Schema<Duration.DurationInput> = Schema.declare(isDurationShaped, {
  identifier: "DurationInput",
  message: (issue) =>
    `must be a duration (milliseconds, a string such as "10 minutes", or a Duration), got ${show(issue.actual)}`
})

const DurationSelf = Schema.DurationFromSelf.annotations({
  message: (issue) => `must be a Duration, got ${show(issue.actual)}`
})

/** A finite duration, zero allowed. */
export const FiniteDurationSelf: Schema.Schema<Duration.Duration> = DurationSelf.pipe(
  Schema.filter(Duration.isFinite, { message: () => "must be finite, got Infinity" })
)

/** A finite duration greater than zero. */
export const PositiveDurationSelf: Schema.Schema<Duration.Duration> = DurationSelf.pipe(
  Schema.filter((d) => Duration.isFinite(d) && !Duration.isZero(d), {
    message: (issue) =>
      `must be a finite duration greater than zero, got ${Duration.isDuration(issue.actual) ? Duration.format(issue.actual) : show(issue.actual)}`
  })
)

/** A field written as any `Duration.DurationInput` and resolved to a `Duration` accepted by `to`. */
export const DurationField = (
  to: Schema.Schema<Duration.Duration>
): Schema.Schema<Duration.Duration, Duration.DurationInput> =>
  Schema.transformOrFail(DurationInputSchema, to, {
    strict: true,
    decode: (input, _options, ast) =>
      Either.match(decodeDurationInput(input), {
        onLeft: (reason) => ParseResult.fail(new ParseResult.Type(ast, input, reason)),
        onRight: ParseResult.succeed
      }),
    encode: ParseResult.succeed
  })

// ---------------------------------------------------------------------------
// bootstrap peers

const P2P = "p2p"

const isPeerInfo = (value: unknown): value is PeerInfo =>
  isRecord(value) &&
  isPeerId(value.id) &&
  Array.isArray(value.multiaddrs) &&
  value.multiaddrs.every((addr: unknown) => isMultiaddr(addr))

/** A resolved peer: a `PeerId` and `Multiaddr` objects. */
export const PeerInfoSchema: Schema.Schema<PeerInfo> = Schema.declare(isPeerInfo, {
  identifier: "PeerInfo",
  message: (issue) => `must be a PeerInfo { id: PeerId, multiaddrs: Multiaddr[] }, got ${show(issue.actual)}`
})

const isPeerInfoInput = (value: unknown): value is PeerInfoInput =>
  isRecord(value) &&
  (isPeerId(value.id) || typeof value.id === "string") &&
  Array.isArray(value.multiaddrs) &&
  value.multiaddrs.every((addr: unknown) => isMultiaddr(addr) || typeof addr === "string")

const isBootstrapPeerInput = (value: unknown): value is BootstrapPeerInput =>
  typeof value === "string" || isMultiaddr(value) || isPeerInfoInput(value)

const BootstrapPeerInputSchema: Schema.Schema<BootstrapPeerInput> = Schema.declare(isBootstrapPeerInput, {
  identifier: "BootstrapPeerInput",
  message: (issue) =>
    `must be a multiaddr ending in /p2p/<peer ID> or a PeerInfo { id, multiaddrs }, got ${show(issue.actual)}`
})

const parsePeerId = (text: string, where: string): Either.Either<PeerId, string> =>
  Either.try({
    try: () => peerIdFromString(text),
    catch: (error) => `invalid peer ID ${show(text)}${where}: ${error instanceof Error ? error.message : String(error)}`
  })

const parseMultiaddr = (input: Multiaddr | string): Either.Either<Multiaddr, string> =>
  isMultiaddr(input)
    ? Either.right(input)
    : Either.try({
        try: () => multiaddr(input),
        catch: (error) =>
          `cannot parse multiaddr ${show(input)}: ${error instanceof Error ? error.message : String(error)}`
      })

interface Split {
  /** The address without its final `/p2p/<id>`, or undefined when the input named only the peer. */
  readonly transport: Multiaddr | undefined
  /** The final `/p2p/` value, if any. */
  readonly peer: string | undefined
}

/**
 * Separates the trailing `/p2p/<id>` from the transport part. Only a final
 * p2p component names the peer: in a relay address
 * `/…/p2p/<relay>/p2p-circuit/p2p/<target>` the earlier one is the relay.
 */
const splitPeer = (addr: Multiaddr): Split => {
  const components: Array<Component> = addr.getComponents()
  const last = components[components.length - 1]
  if (last === undefined || last.name !== P2P) return { transport: addr, peer: undefined }
  const rest = components.slice(0, -1)
  return { transport: rest.length === 0 ? undefined : multiaddr(rest), peer: last.value }
}

const fromAddress = (input: Multiaddr | string): Either.Either<PeerInfo, string> =>
  Either.gen(function* () {
    const addr = yield* parseMultiaddr(input)
    const { peer, transport } = splitPeer(addr)
    if (peer === undefined) {
      return yield* Either.left(
        `${show(addr.toString())} does not end with /p2p/<peer ID>: a bootstrap address must name the peer it reaches`
      )
    }
    const id = yield* parsePeerId(peer, ` in ${show(addr.toString())}`)
    return { id, multiaddrs: transport === undefined ? [] : [transport] }
  })

const fromPeerInfo = (input: PeerInfoInput): Either.Either<PeerInfo, string> =>
  Either.gen(function* () {
    const id = typeof input.id === "string" ? yield* parsePeerId(input.id, "") : input.id
    const multiaddrs: Array<Multiaddr> = []
    for (const raw of input.multiaddrs) {
      const addr = yield* parseMultiaddr(raw)
      const { peer, transport } = splitPeer(addr)
      if (peer !== undefined && peer !== id.toString()) {
        return yield* Either.left(`address ${show(addr.toString())} names peer ${peer}, but the entry is for ${id}`)
      }
      if (transport !== undefined) multiaddrs.push(transport)
    }
    return { id, multiaddrs }
  })

/** Reads one bootstrap peer. */
export const decodeBootstrapPeer = (input: BootstrapPeerInput): Either.Either<PeerInfo, string> =>
  typeof input === "string" || isMultiaddr(input) ? fromAddress(input) : fromPeerInfo(input)

/**
 * Joins entries for the same peer (several addresses of one node written as
 * separate strings) into one `PeerInfo`, keeping first-seen order and
 * dropping repeated addresses.
 */
export const mergePeers = (peers: ReadonlyArray<PeerInfo>): Array<PeerInfo> => {
  const byId = new Map<string, { id: PeerId; multiaddrs: Array<Multiaddr>; seen: Set<string> }>()
  for (const peer of peers) {
    const key = peer.id.toString()
    let entry = byId.get(key)
    if (entry === undefined) {
      entry = { id: peer.id, multiaddrs: [], seen: new Set() }
      byId.set(key, entry)
    }
    for (const addr of peer.multiaddrs) {
      const text = addr.toString()
      if (!entry.seen.has(text)) {
        entry.seen.add(text)
        entry.multiaddrs.push(addr)
      }
    }
  }
  return Array.from(byId.values(), ({ id, multiaddrs }) => ({ id, multiaddrs }))
}

const BootstrapPeer: Schema.Schema<PeerInfo, BootstrapPeerInput> = Schema.transformOrFail(
  BootstrapPeerInputSchema,
  PeerInfoSchema,
  {
    strict: true,
    decode: (input, _options, ast) =>
      Either.match(decodeBootstrapPeer(input), {
        onLeft: (reason) => ParseResult.fail(new ParseResult.Type(ast, input, reason)),
        onRight: ParseResult.succeed
      }),
    encode: ParseResult.succeed
  }
)

/** The bootstrap list: each entry read, then entries for the same peer joined. */
export const BootstrapPeers: Schema.Schema<
  ReadonlyArray<PeerInfo>,
  ReadonlyArray<BootstrapPeerInput>
> = Schema.transform(
  Schema.Array(BootstrapPeer).annotations({
    message: (issue) => `must be an array of bootstrap peers, got ${show(issue.actual)}`
  }),
  Schema.Array(PeerInfoSchema),
  { strict: true, decode: mergePeers, encode: (peers) => peers }
)

// ---------------------------------------------------------------------------
// object-valued options

const PROVIDER_STORE_METHODS = ["addProvider", "getProviders", "cleanup", "close"] as const

/** Anything with the {@link ProviderStoreLike} methods. */
export const ProviderStoreSchema: Schema.Schema<ProviderStoreLike> = Schema.declare(
  (value: unknown): value is ProviderStoreLike => hasMethods(value, PROVIDER_STORE_METHODS),
  {
    identifier: "ProviderStoreLike",
    message: (issue) =>
      `must be a provider store with ${PROVIDER_STORE_METHODS.join(", ")} methods, got ${show(issue.actual)}`
  }
)

const DATASTORE_METHODS = ["put", "get", "has", "delete", "query"] as const

/** Anything with the core methods of an `interface-datastore` `Datastore`. */
export const DatastoreSchema: Schema.Schema<Datastore> = Schema.declare(
  (value: unknown): value is Datastore => hasMethods(value, DATASTORE_METHODS),
  {
    identifier: "Datastore",
    message: (issue) =>
      `must be an interface-datastore Datastore (with ${DATASTORE_METHODS.join(", ")}), got ${show(issue.actual)}`
  }
)

const isValidator = (value: unknown): value is Validator => hasMethods(value, ["validate", "select"])

const isValidatorRecord = (value: unknown): value is Readonly<Record<string, Validator>> => {
  if (!isRecord(value) || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return (proto === Object.prototype || proto === null) && Object.values(value).every(isValidator)
}

/** A resolved validator: anything with `validate` and `select`. */
export const ValidatorSchema: Schema.Schema<Validator> = Schema.declare(isValidator, {
  identifier: "Validator",
  message: (issue) => `must be a Validator with validate and select methods, got ${show(issue.actual)}`
})

const ValidatorInputSchema: Schema.Schema<ValidatorInput> = Schema.declare(
  (value: unknown): value is ValidatorInput => isValidator(value) || isValidatorRecord(value),
  {
    identifier: "ValidatorInput",
    message: (issue) =>
      `must be a Validator (such as a NamespacedValidator) or a record of namespace to Validator, got ${show(issue.actual)}`
  }
)

/** A validator, or a record of namespace validators turned into a `NamespacedValidator`. */
export const ValidatorField: Schema.Schema<Validator, ValidatorInput> = Schema.transformOrFail(
  ValidatorInputSchema,
  ValidatorSchema,
  {
    strict: true,
    decode: (input, _options, ast) => {
      if (isValidator(input)) return ParseResult.succeed(input)
      try {
        return ParseResult.succeed(new NamespacedValidator(input))
      } catch (error) {
        return ParseResult.fail(
          new ParseResult.Type(ast, input, error instanceof Error ? error.message : String(error))
        )
      }
    },
    encode: ParseResult.succeed
  }
)

/** A {@link PeerFilter} function. */
export const PeerFilterSchema: Schema.Schema<PeerFilter> = Schema.declare(
  (value: unknown): value is PeerFilter => typeof value === "function",
  {
    identifier: "PeerFilter",
    message: (issue) => `must be a function (peer: PeerInfo) => boolean, got ${show(issue.actual)}`
  }
)

/** A function option: checked to be a function, with `signature` in the message. */
const FunctionField = <F>(identifier: string, signature: string): Schema.Schema<F> =>
  Schema.declare((value: unknown): value is F => typeof value === "function", {
    identifier,
    message: (issue) => `must be a function ${signature}, got ${show(issue.actual)}`
  })

/** A {@link RequestHook} function. */
export const RequestHookSchema: Schema.Schema<RequestHook> = FunctionField(
  "RequestHook",
  "(from: PeerId, request: Message) => void"
)

/** A function returning bootstrap peers. */
export const BootstrapPeersFuncSchema: Schema.Schema<() => ReadonlyArray<BootstrapPeerInput>> = FunctionField(
  "BootstrapPeersFunc",
  "() => bootstrap peers"
)

const NAMESPACE = /^[^/]+$/

/** Validators by namespace: names without `/`, values with `validate` and `select`. */
export const NamespacedValidatorsSchema: Schema.Schema<Readonly<Record<string, Validator>>> = Schema.declare(
  (value: unknown): value is Readonly<Record<string, Validator>> =>
    isValidatorRecord(value) && Object.keys(value).every((ns) => NAMESPACE.test(ns)),
  {
    identifier: "NamespacedValidators",
    message: (issue) =>
      `must map namespaces (non-empty names without "/", such as "myapp") to Validators, got ${show(issue.actual)}`
  }
)
