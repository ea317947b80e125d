/**
 * `DHTOptions`: the plain object users write to configure a DHT node, and
 * the structural types of its object-valued fields.
 *
 * Every field is optional; what is left out takes the Amino default (see
 * `DHTConfig.defaults`). Durations accept anything Effect's
 * `Duration.DurationInput` does: a number of milliseconds, a string such as
 * `"10 minutes"`, or a `Duration`.
 *
 * @module
 */
import type { AddressFilter, Message, NamespacedValidator, PeerInfo, Validator } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import type * as Duration from "effect/Duration"
import type { Datastore } from "interface-datastore"
import type { DHTMode } from "./mode.js"

/**
 * The shape a provider store must have to be passed through the options:
 * the promise contract of `@effect-kad/providers`' `ProviderStore`, which
 * its `MemoryProviderStore` and datastore-backed store implement.
 *
 * Declared here structurally, so `@effect-kad/options` does not depend on
 * `@effect-kad/providers`. Keys are the multihash bytes of the content's CID.
 */
export interface ProviderStoreLike {
  /** Records that `provider` provides the content under `key`. */
  addProvider(key: Uint8Array, provider: PeerInfo): Promise<void>
  /** The providers currently recorded for `key`. */
  getProviders(key: Uint8Array): Promise<ReadonlyArray<PeerInfo>>
  /** Drops expired records; may resolve with how many it dropped. */
  // biome-ignore lint/suspicious/noConfusingVoidType: void, unlike undefined, admits `async () => {}` implementations
  cleanup(): Promise<number | void>
  /** Releases the store's resources. */
  close(): Promise<void>
  /** Optional: how many keys and provider entries the store holds, which the DHT's metrics report. */
  stats?():
    | { readonly keys: number; readonly providers: number }
    | Promise<{ readonly keys: number; readonly providers: number }>
}

/**
 * Decides whether a peer may be queried and admitted to the routing table;
 * peers it refuses are ignored.
 *
 * @example
 * ```ts
 * const onlyPublic: PeerFilter = (peer) =>
 *   peer.multiaddrs.every((addr) => !addr.toString().startsWith("/ip4/10."))
 * ```
 */
export type PeerFilter = (peer: PeerInfo) => boolean

/**
 * Called with every request this node receives while serving, before it is
 * handled (go-libp2p-kad-dht's `OnRequestHook`): for metrics, logging or
 * abuse detection. It cannot change the request or its answer; an exception
 * it throws is logged and the request is still answered.
 *
 * @example
 * ```ts
 * const hook: RequestHook = (from, request) => counts.set(request.type, (counts.get(request.type) ?? 0) + 1)
 * ```
 */
export type RequestHook = (from: PeerId, request: Message) => void

/**
 * A bootstrap peer as a user may write it (the guide's `AddrInfo`): an ID,
 * as a `PeerId` or its string form, and the addresses it listens on, as
 * `Multiaddr`s or strings. An address may end with `/p2p/<the same ID>`.
 */
export interface PeerInfoInput {
  readonly id: PeerId | string
  readonly multiaddrs: ReadonlyArray<Multiaddr | string>
}

/**
 * One bootstrap peer: a multiaddr (string or object) that ends with
 * `/p2p/<peer ID>`, or a {@link PeerInfoInput} / core `PeerInfo`.
 *
 * @example
 * ```ts
 * const peers: ReadonlyArray<BootstrapPeerInput> = [
 *   "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
 *   { id: "QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ", multiaddrs: ["/ip4/104.131.131.82/tcp/4001"] }
 * ]
 * ```
 */
export type BootstrapPeerInput = string | Multiaddr | PeerInfo | PeerInfoInput

/**
 * A record validator: a full {@link Validator} (typically a
 * `NamespacedValidator`), or a record from namespace to validator, which
 * becomes a `NamespacedValidator`.
 */
export type ValidatorInput = Validator | NamespacedValidator | Readonly<Record<string, Validator>>

/**
 * The DHT configuration as users write it; every field is optional.
 *
 * @example
 * ```ts
 * // the guide's client node
 * const options: DHTOptions = {
 *   mode: DHTMode.client,
 *   bucketSize: 15,
 *   concurrency: 5,
 *   resiliency: 2,
 *   maxRetryAttempts: 2
 * }
 * ```
 */
export interface DHTOptions {
  /** Client, server, auto or autoServer. Default `"auto"`. */
  readonly mode?: DHTMode
  /** k: peers per routing-table bucket and results per lookup, at least 1. Default 20. */
  readonly bucketSize?: number
  /** alpha: requests a lookup keeps in flight, at least 1. Default 10. */
  readonly concurrency?: number
  /** beta: closest peers that must answer before a lookup ends, 1 to `bucketSize`. Default 3. */
  readonly resiliency?: number
  /** How long provider records are kept. Default 48 hours. */
  readonly provideValidity?: Duration.DurationInput
  /** How long a provider's addresses are kept. Default 24 hours. */
  readonly providerAddrTTL?: Duration.DurationInput
  /** Whether the routing table is refreshed periodically and when it runs low. Default true. */
  readonly autoRefresh?: boolean
  /** Period of the routing-table refresh. Default 10 minutes. */
  readonly refreshInterval?: Duration.DurationInput
  /** Peers to join the network through. Default none. */
  readonly bootstrapPeers?: ReadonlyArray<BootstrapPeerInput>
  /** Attempts per DHT request, the first included (1 disables retries). Default 3. */
  readonly maxRetryAttempts?: number
  /** Pause before the first retry. Default 500 ms. */
  readonly retryInitialBackoff?: Duration.DurationInput
  /** Longest pause between retries, at least `retryInitialBackoff`. Default 30 s (the guide's). */
  readonly retryMaxBackoff?: Duration.DurationInput
  /** Growth of the pause from one retry to the next, at least 1. Default 2. */
  readonly retryBackoffFactor?: number
  /** Whether loopback addresses are left out of the peers sent in responses. Default true. */
  readonly filterLocalhostInResponses?: boolean
  /**
   * Which addresses of a peer are sent in answers and kept (so dialed) when
   * learned from answers. Default: on a public DHT only public addresses
   * (loopback too when `filterLocalhostInResponses` is false); on a LAN DHT
   * (`/ipfs/lan`, or any prefix ending in `/lan`) every address.
   */
  readonly addressFilter?: AddressFilter
  /** Prefix of the metric families registered on the host's libp2p `Metrics`. Default `"libp2p_kad_dht"`. */
  readonly metricsPrefix?: string
  /** Prefix of the protocol ID (`<prefix>/kad/1.0.0`), such as `/myapp`. Default `"/ipfs"`. */
  readonly protocolPrefix?: string
  /** How long a stored value record is served after it was received. Default 36 hours. */
  readonly maxRecordAge?: Duration.DurationInput
  /** Cap on the peers of the whole routing table, at least `bucketSize`. Default: no cap. */
  readonly maxRoutingTableSize?: number
  /**
   * Newly seen servers checked (with FIND_NODE) at once before admission to
   * the routing table. No check is sent to a server that one of our own
   * requests dialed (its answer admits it), nor to one whose bucket is full
   * of peers that stay. Default 256.
   */
  readonly lookupCheckConcurrency?: number
  /**
   * IP diversity limits of the routing table: at most 2 peers of one IP group
   * (IPv4 /16, IPv6 /32) per bucket and 3 per table, as go-libp2p-kad-dht's
   * filter. Default false: local and test networks share one address range.
   */
  readonly ipDiversityFilter?: boolean
  /** Whether provide uses the network size estimate to finish early. Default false. */
  readonly enableOptimisticProvide?: boolean
  /** ADD_PROVIDER requests an optimistic provide may leave running in the background. Default 60. */
  readonly optimisticProvideJobsPoolSize?: number
  /** Period at which provided content is announced again, shorter than `provideValidity`. Default 22 hours. */
  readonly reprovideInterval?: Duration.DurationInput
  /**
   * How provided content is announced again: `"sweep"` (default) goes
   * through the keys region by region of the keyspace, spread over the
   * interval, with a few lookups per region; `"classic"` makes one lookup
   * per key, all keys at once.
   */
  readonly reprovideStrategy?: "sweep" | "classic"
  /** Deadline of one request to one peer (dial, send, answer). Default 10 s. */
  readonly requestTimeout?: Duration.DurationInput
  /**
   * Lookups give each peer a deadline that follows observed response times
   * (p90 × 2 of recent answers) between this floor and the ceiling; a peer
   * past it stops holding up the lookup, and its late answer still counts.
   * Default 500 ms.
   */
  readonly queryDeadlineFloor?: Duration.DurationInput
  /** Upper bound of that deadline (never more than `requestTimeout`). Default 5 s. */
  readonly queryDeadlineCeiling?: Duration.DurationInput
  /** Time a lookup gives a dial before going on without that peer. Default 5 s. */
  readonly dialTimeout?: Duration.DurationInput
  /**
   * How long an operation on an empty routing table waits for it to fill
   * (identify of fresh connections, the first refresh) before it runs
   * without peers; writes then fail. 0 does not wait. Default 5 s.
   */
  readonly emptyTableWait?: Duration.DurationInput
  /** Where provider records are kept. Default: the DHT's in-memory store. */
  readonly providerStore?: ProviderStoreLike
  /** Where value records are kept. Default: an in-memory datastore. */
  readonly datastore?: Datastore
  /** Record validation. Default: the DHT's `/pk` and `/ipns` validators. */
  readonly validator?: ValidatorInput
  /** Which peers may be queried and admitted to the routing table (both filters below at once). Default: every peer. */
  readonly peerFilter?: PeerFilter
  /**
   * Which peers a lookup may query (go's `QueryFilter`): a peer it refuses
   * is neither a lookup's seed nor taken from the closer peers of an
   * answer. Default: every peer.
   */
  readonly queryFilter?: PeerFilter
  /** Which peers may enter the routing table (go's `RoutingTableFilter`). Default: every peer. */
  readonly routingTableFilter?: PeerFilter
  /**
   * Asked for the bootstrap peers each time they are needed (`bootstrap()`
   * and the low-peer fix), instead of a fixed `bootstrapPeers` list (go's
   * `BootstrapPeersFunc`). Entries it returns that cannot be read are
   * skipped. Not together with `bootstrapPeers`.
   */
  readonly bootstrapPeersFunc?: () => ReadonlyArray<BootstrapPeerInput>
  /** Called with every request received while serving, before it is handled. Default: none. */
  readonly onRequestHook?: RequestHook
  /**
   * Turns value storage off (go's `DisableValues`): PUT_VALUE and GET_VALUE
   * requests go unanswered and `putValue`, `getValue` and `searchValue`
   * fail with `FeatureDisabledError`. Default false.
   */
  readonly disableValues?: boolean
  /**
   * Turns provider records off (go's `DisableProviders`): ADD_PROVIDER and
   * GET_PROVIDERS requests go unanswered and `provide`, `findProviders`,
   * `advertise` and `findPeers` fail with `FeatureDisabledError`. Default false.
   */
  readonly disableProviders?: boolean
  /** Deadline of each lookup of a routing-table refresh (go's `RoutingTableRefreshQueryTimeout`). Default 10 s. */
  readonly refreshQueryTimeout?: Duration.DurationInput
  /**
   * Validators of further record namespaces (`{ myapp: v }` validates
   * `/myapp/…` keys), added to those of `validator` and to the default
   * `/pk` and `/ipns` ones (go's `NamespacedValidator` option). Unlike other
   * fields, lists of options merge this one: each `namespacedValidator(ns, v)`
   * adds a namespace. Default none.
   */
  readonly namespacedValidators?: Readonly<Record<string, Validator>>
}
