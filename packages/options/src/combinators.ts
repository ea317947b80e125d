/**
 * The functional configuration pattern of the guide: each combinator
 * returns a {@link DHTOption}, an immutable piece of plain data that sets
 * some fields of {@link DHTOptions}. Lists of them are ordinary arrays, so
 * app code can build, spread and reuse them; when a list is resolved, a
 * later option overrides an earlier one.
 *
 * Values are checked when the list is resolved (`resolveOptions`,
 * `DHTConfig.fromOptions`, `DHT.new_`), which reports a bad one as an
 * `InvalidOptionError` naming the `DHTOptions` field it sets.
 *
 * @example
 * ```ts
 * const base = [mode(DHTMode.client), bucketSize(15)]
 * const mobile = [...base, concurrency(5), disableAutoRefresh()]
 * const config = resolveOptions(mobile)
 * ```
 *
 * @module
 */

import type { Validator } from "@effect-kad/core"
import type * as Duration from "effect/Duration"
import type { Datastore } from "interface-datastore"
import type { DHTMode } from "./mode.js"
import type {
  BootstrapPeerInput,
  DHTOptions,
  PeerFilter,
  ProviderStoreLike,
  RequestHook,
  ValidatorInput
} from "./options.js"

/** One configuration step: the {@link DHTOptions} fields it sets. */
export interface DHTOption {
  readonly _tag: "DHTOption"
  readonly patch: DHTOptions
}

/** Whether `value` is a {@link DHTOption}. */
export const isDHTOption = (value: unknown): value is DHTOption =>
  typeof value === "object" &&
  value !== null &&
  (value as { _tag?: unknown })._tag === "DHTOption" &&
  typeof (value as { patch?: unknown }).patch === "object" &&
  (value as { patch?: unknown }).patch !== null

const make = (patch: DHTOptions): DHTOption => Object.freeze({ _tag: "DHTOption", patch: Object.freeze(patch) })

/**
 * An option that sets several fields at once, for mixing a
 * {@link DHTOptions} object into a list.
 *
 * @example
 * ```ts
 * const opts = [withOptions({ mode: "server", bucketSize: 30 }), concurrency(15)]
 * ```
 */
export const withOptions = (options: DHTOptions): DHTOption =>
  make(
    options.bootstrapPeers === undefined
      ? { ...options }
      : { ...options, bootstrapPeers: Object.freeze([...options.bootstrapPeers]) }
  )

/** Sets the operating mode (`DHTMode.client`, `.server`, `.auto` or `.autoServer`). */
export const mode = (value: DHTMode): DHTOption => make({ mode: value })

/** Sets k, the bucket size of the routing table and the result size of lookups. */
export const bucketSize = (k: number): DHTOption => make({ bucketSize: k })

/** Sets alpha, the requests a lookup keeps in flight. */
export const concurrency = (alpha: number): DHTOption => make({ concurrency: alpha })

/** Sets beta, the closest peers that must answer before a lookup ends. */
export const resiliency = (beta: number): DHTOption => make({ resiliency: beta })

/**
 * Sets the peers to join the network through, replacing any set before.
 *
 * @example
 * ```ts
 * bootstrapPeers([
 *   { id: peerIdFromString("QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"), multiaddrs: [multiaddr("/ip4/104.131.131.82/tcp/4001")] },
 *   "/ip4/104.236.179.241/tcp/4001/p2p/QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM"
 * ])
 * ```
 */
export const bootstrapPeers = (peers: ReadonlyArray<BootstrapPeerInput>): DHTOption =>
  // copied so that changing the caller's array later does not change the option
  make({ bootstrapPeers: Object.freeze([...peers]) })

/** Sets the attempts per DHT request, the first included (`maxRetryAttempts`). */
export const maxDhtMessageRetries = (attempts: number): DHTOption => make({ maxRetryAttempts: attempts })

/** Sets the pause before the first retry of a request (`retryInitialBackoff`). */
export const dhtMessageRetryInitialBackoff = (delay: Duration.DurationInput): DHTOption =>
  make({ retryInitialBackoff: delay })

/** Sets the longest pause between retries of a request (`retryMaxBackoff`). */
export const dhtMessageRetryMaxBackoff = (delay: Duration.DurationInput): DHTOption => make({ retryMaxBackoff: delay })

/** Sets how much the pause grows from one retry to the next (`retryBackoffFactor`). */
export const dhtMessageRetryBackoffFactor = (factor: number): DHTOption => make({ retryBackoffFactor: factor })

/** Turns the routing table's IP diversity limits on (2 per IP group per bucket, 3 per table). */
export const ipDiversityFilter = (enabled = true): DHTOption => make({ ipDiversityFilter: enabled })

/** Turns optimistic provide on (or off with `false`). */
export const enableOptimisticProvide = (enabled = true): DHTOption => make({ enableOptimisticProvide: enabled })

/** Sets how many ADD_PROVIDER requests an optimistic provide may leave running in the background. */
export const optimisticProvideJobsPoolSize = (size: number): DHTOption => make({ optimisticProvideJobsPoolSize: size })

/** Sets how many routing-table candidates are checked at once before admission. */
export const lookupCheckConcurrency = (n: number): DHTOption => make({ lookupCheckConcurrency: n })

/** Caps the number of peers in the whole routing table. */
export const maxRoutingTableSize = (size: number): DHTOption => make({ maxRoutingTableSize: size })

/** Turns the periodic and low-peer routing-table refresh off; refresh is then up to the app. */
export const disableAutoRefresh = (): DHTOption => make({ autoRefresh: false })

/** Turns the automatic routing-table refresh on or off. */
export const autoRefresh = (enabled = true): DHTOption => make({ autoRefresh: enabled })

/** Sets the period of the routing-table refresh. */
export const refreshInterval = (interval: Duration.DurationInput): DHTOption => make({ refreshInterval: interval })

/** Sets where provider records are kept. */
export const providerStore = (store: ProviderStoreLike): DHTOption => make({ providerStore: store })

/** Sets where value records are kept. */
export const datastore = (store: Datastore): DHTOption => make({ datastore: store })

/**
 * Sets the record validator: a `NamespacedValidator` or a record of
 * namespace to validator, whose namespaces are added to the default `/pk`
 * and `/ipns` ones (registering `pk` or `ipns` replaces that default, as
 * go-libp2p-kad-dht's `NamespacedValidator` option does); any other
 * `Validator` routes every key itself and replaces the defaults.
 *
 * @example
 * ```ts
 * validator({ myapp: new MyAppValidator() })
 * ```
 */
export const validator = (value: ValidatorInput): DHTOption => make({ validator: value })

/** Sets the protocol prefix, such as `/myapp` for `/myapp/kad/1.0.0`. */
export const protocolPrefix = (prefix: string): DHTOption => make({ protocolPrefix: prefix })

/** Sets how long provider records are kept. */
export const provideValidity = (validity: Duration.DurationInput): DHTOption => make({ provideValidity: validity })

/** Sets how long a provider's addresses are kept. */
export const providerAddrTTL = (ttl: Duration.DurationInput): DHTOption => make({ providerAddrTTL: ttl })

/** Sets how long a stored value record is served after it was received. */
export const maxRecordAge = (age: Duration.DurationInput): DHTOption => make({ maxRecordAge: age })

/** Sets whether loopback addresses are left out of the peers sent in responses. */
export const filterLocalhostInResponses = (filter: boolean): DHTOption => make({ filterLocalhostInResponses: filter })

/** Sets which peers may be queried and admitted to the routing table. */
export const peerFilter = (filter: PeerFilter): DHTOption => make({ peerFilter: filter })

/** Sets the deadline of one request to one peer. */
export const requestTimeout = (timeout: Duration.DurationInput): DHTOption => make({ requestTimeout: timeout })

/**
 * Sets the bounds of the adaptive per-peer deadline of lookups.
 *
 * @example
 * ```ts
 * const dht = await DHT.new_(host, store, [queryDeadline("300 millis", "3 seconds")])
 * ```
 */
export const queryDeadline = (floor: Duration.DurationInput, ceiling: Duration.DurationInput): DHTOption =>
  make({ queryDeadlineFloor: floor, queryDeadlineCeiling: ceiling })

/** Sets how long a lookup gives a dial before going on without that peer. */
export const dialTimeout = (timeout: Duration.DurationInput): DHTOption => make({ dialTimeout: timeout })

/** Sets how long an operation on an empty routing table waits for peers. */
export const emptyTableWait = (wait: Duration.DurationInput): DHTOption => make({ emptyTableWait: wait })

/** Sets how often provided content is announced again. */
export const reprovideInterval = (interval: Duration.DurationInput): DHTOption => make({ reprovideInterval: interval })

/**
 * Sets which peers a lookup may query (go's `QueryFilter`).
 *
 * @example
 * ```ts
 * queryFilter((peer) => !blocked.has(peer.id.toString()))
 * ```
 */
export const queryFilter = (filter: PeerFilter): DHTOption => make({ queryFilter: filter })

/**
 * Sets which peers may enter the routing table (go's `RoutingTableFilter`).
 *
 * @example
 * ```ts
 * routingTableFilter((peer) => peer.multiaddrs.some((addr) => addr.toString().startsWith("/ip4/10.")))
 * ```
 */
export const routingTableFilter = (filter: PeerFilter): DHTOption => make({ routingTableFilter: filter })

/**
 * Sets a function asked for the bootstrap peers whenever they are needed
 * (go's `BootstrapPeersFunc`), for lists that change while the node runs.
 *
 * @example
 * ```ts
 * bootstrapPeersFunc(() => registry.currentPeers())
 * ```
 */
export const bootstrapPeersFunc = (peers: () => ReadonlyArray<BootstrapPeerInput>): DHTOption =>
  make({ bootstrapPeersFunc: peers })

/**
 * Sets a function called with every request received while serving (go's `OnRequestHook`).
 *
 * @example
 * ```ts
 * onRequestHook((from, request) => console.debug(`${from} sent ${request.type}`))
 * ```
 */
export const onRequestHook = (hook: RequestHook): DHTOption => make({ onRequestHook: hook })

/**
 * Turns value storage off (go's `DisableValues`).
 *
 * @example
 * ```ts
 * const providersOnly = await DHT.new_(host, undefined, [disableValues()])
 * ```
 */
export const disableValues = (): DHTOption => make({ disableValues: true })

/**
 * Turns provider records off (go's `DisableProviders`).
 *
 * @example
 * ```ts
 * const valuesOnly = await DHT.new_(host, undefined, [disableProviders()])
 * ```
 */
export const disableProviders = (): DHTOption => make({ disableProviders: true })

/**
 * Sets the period of the routing-table refresh (go's name for `refreshInterval`).
 *
 * @example
 * ```ts
 * routingTableRefreshPeriod("15 minutes")
 * ```
 */
export const routingTableRefreshPeriod = (period: Duration.DurationInput): DHTOption =>
  make({ refreshInterval: period })

/**
 * Sets the deadline of each refresh lookup (go's `RoutingTableRefreshQueryTimeout`).
 *
 * @example
 * ```ts
 * routingTableRefreshQueryTimeout("30 seconds")
 * ```
 */
export const routingTableRefreshQueryTimeout = (timeout: Duration.DurationInput): DHTOption =>
  make({ refreshQueryTimeout: timeout })

/**
 * Adds the validator of one record namespace (go's `NamespacedValidator`
 * option); several calls add several namespaces, and the default `/pk` and
 * `/ipns` validators stay unless `pk` or `ipns` is given.
 *
 * @example
 * ```ts
 * const dht = await DHT.new_(host, undefined, [namespacedValidator("myapp", myAppValidator)])
 * ```
 */
export const namespacedValidator = (namespace: string, value: Validator): DHTOption =>
  make({ namespacedValidators: { [namespace]: value } })

/** Sets how provided content is announced again: by keyspace region (`"sweep"`) or one lookup per key (`"classic"`). */
export const reprovideStrategy = (strategy: "sweep" | "classic"): DHTOption => make({ reprovideStrategy: strategy })
