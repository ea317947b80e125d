/**
 * The assembled DHT as one Effect service, and the layer graph behind it.
 *
 * `Dht.layer(host, options)` folds the options into a config and builds:
 * network → peer routing (routing table, lookup, size estimator, FIND_NODE
 * and PING handlers) → values and providers (with their handlers) →
 * refresh → mode (which serves the handlers in server mode). Each piece is
 * its own layer, so a test or an application can swap one (for example the
 * network for the in-memory one) with `Dht.layerWith`.
 *
 * @module
 */

import {
  FeatureDisabledError,
  type InvalidOptionError,
  Libp2pNetwork,
  MessageType,
  Network,
  type PeerInfo
} from "@effect-kad/core"
import {
  DHTConfig,
  DHTConfigTag,
  type DHTOption,
  type DHTOptions,
  effectiveAddressFilter,
  type PeerFilter
} from "@effect-kad/options"
import {
  ContentRouting,
  layerContentRouting,
  type ProviderStore,
  type ProviderStoreService
} from "@effect-kad/providers"
import {
  type BootstrapReport,
  layerPeerRouting,
  NetworkSizeEstimator,
  PeerRouting,
  RefreshManager,
  type RefreshOptions,
  type RefreshReport,
  RoutingTable,
  type RpcHandlers
} from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { CID } from "multiformats/cid"
import * as PeerTags from "./host/peer-tags.js"
import * as TablePersistence from "./host/table-persistence.js"
import { DhtMode } from "./mode/mode.js"
import { hostAddressChanges, hostReachability, type Reachability } from "./mode/reachability.js"
import * as Libp2pMetrics from "./monitoring/libp2p-metrics.js"
import { DhtMetrics, type DhtMetricsSnapshot } from "./monitoring/metrics.js"
import { layerValues, type RecordStore, Values } from "./values/index.js"

/** Input accepted wherever options are: a plain object or a list of `DHTOption`s. */
export type OptionsInput = DHTOptions | ReadonlyArray<DHTOption>

/** Services every assembled DHT provides; each can be used directly. */
export type DhtServices =
  | Network
  | RoutingTable
  | NetworkSizeEstimator
  | PeerRouting
  | RpcHandlers
  | Values
  | ContentRouting
  | RefreshManager
  | DhtMode
  | DHTConfigTag
  | ProviderStoreService
  | RecordStore
  | DhtMetrics

/** Bootstrap settings, as in the guide. */
export interface BootstrapOptions {
  /** Only connect to the bootstrap peers; skip the routing-table refresh. */
  readonly quickConnectOnly?: boolean
  /** (Re)start periodic refreshes with this interval. */
  readonly periodicRefreshInterval?: Duration.DurationInput
}

/** Both filters, when both are given. */
const both = (a: Option.Option<PeerFilter>, b: Option.Option<PeerFilter>): PeerFilter | undefined =>
  Option.isNone(a) ? Option.getOrUndefined(b) : Option.isNone(b) ? a.value : (peer) => a.value(peer) && b.value(peer)

const disabledMessageTypes = (config: DHTConfig): Array<MessageType> => [
  ...(config.disableValues ? [MessageType.PUT_VALUE, MessageType.GET_VALUE] : []),
  ...(config.disableProviders ? [MessageType.ADD_PROVIDER, MessageType.GET_PROVIDERS] : [])
]

/**
 * Builds the layer graph for a config over a given network layer.
 *
 * @example
 * ```ts
 * const hub = new MemoryNetworkHub()
 * const layer = Dht.layerWith(config, hub.layer(peerId))
 * ```
 */
export const layerWith = <E>(
  config: DHTConfig,
  network: Layer.Layer<Network, E>,
  reachability: Stream.Stream<Reachability> = Stream.empty,
  addressChanges: Stream.Stream<unknown> = Stream.empty
): Layer.Layer<DhtServices, E | InvalidOptionError> => {
  const millis = Duration.toMillis
  const routing = layerPeerRouting({
    k: config.bucketSize,
    alpha: config.concurrency,
    beta: config.resiliency,
    requestTimeoutMillis: millis(config.requestTimeout),
    retry: DHTConfig.retryPolicy(config),
    queryDeadline: {
      floorMillis: millis(config.queryDeadlineFloor),
      ceilingMillis: millis(config.queryDeadlineCeiling),
      dialMillis: millis(config.dialTimeout)
    },
    emptyTableWaitMillis: millis(config.emptyTableWait),
    filterLocalhostInResponses: config.filterLocalhostInResponses,
    addressFilter: effectiveAddressFilter(config),
    maxRoutingTableSize: Option.getOrUndefined(config.maxRoutingTableSize),
    // peerFilter is both of go's filters at once
    peerFilter: both(config.peerFilter, config.routingTableFilter),
    queryFilter: both(config.peerFilter, config.queryFilter),
    lookupCheckConcurrency: config.lookupCheckConcurrency,
    diversity: { enabled: config.ipDiversityFilter },
    disabledMessageTypes: disabledMessageTypes(config)
  })
  const values = layerValues({
    maxRecordAge: config.maxRecordAge,
    datastore: Option.getOrUndefined(config.datastore),
    validator: Option.getOrUndefined(DHTConfig.validator(config))
  })
  const providers = layerContentRouting({
    provideValidity: config.provideValidity,
    providerAddrTTL: config.providerAddrTTL,
    reprovideInterval: config.reprovideInterval,
    reprovideStrategy: config.reprovideStrategy,
    // the provided keys live beside the value records, so a restart reprovides them
    datastore: Option.getOrUndefined(config.datastore),
    optimisticProvide: config.enableOptimisticProvide,
    optimisticProvideJobsPoolSize: config.optimisticProvideJobsPoolSize,
    providerStore: Option.getOrUndefined(config.providerStore) as ProviderStore | undefined
  })
  const refresh = RefreshManager.layer({
    autoRefresh: config.autoRefresh,
    refreshIntervalMillis: millis(config.refreshInterval),
    refreshQueryTimeoutMillis: millis(config.refreshQueryTimeout),
    bootstrapPeers: config.bootstrapPeers,
    bootstrapPeersFunc: Option.isSome(config.bootstrapPeersFunc) ? DHTConfig.bootstrapPeers(config) : undefined,
    addressChanges
  })
  const mode = DhtMode.layer(config.mode, reachability, Option.getOrUndefined(config.onRequestHook))
  const metrics = DhtMetrics.layer
  // a durable datastore keeps the routing table across restarts; it is loaded before refresh first runs
  const warm = Option.match(config.datastore, {
    onNone: () => Layer.empty,
    onSome: (datastore) => TablePersistence.layer(datastore)
  })
  const features = Layer.mergeAll(values, providers, refresh).pipe(Layer.provide(warm))
  return Layer.merge(mode, metrics).pipe(
    Layer.provideMerge(features),
    Layer.provideMerge(routing),
    // every request sent and served is counted, below everything that sends or serves
    Layer.provideMerge(DhtMetrics.layerNetwork(network)),
    Layer.provideMerge(Layer.succeed(DHTConfigTag, config))
  ) as Layer.Layer<DhtServices, E | InvalidOptionError>
}

/**
 * The full DHT over a js-libp2p host (a `Libp2p` node or a service's
 * components), configured by options.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const dht = yield* Dht
 *   yield* dht.provide(cid)
 * }).pipe(Effect.provide(Dht.layer(node, [mode(DHTMode.server)])))
 * ```
 */
export const layerFromHost = (
  host: Libp2pNetwork.Libp2pHostLike,
  options?: OptionsInput
): Layer.Layer<DhtServices | Dht, InvalidOptionError> =>
  Layer.unwrapEffect(
    Effect.map(DHTConfig.fromOptions(options), (config) => {
      const network = Libp2pNetwork.layer(host, {
        protocol: DHTConfig.protocol(config),
        requestTimeoutMillis: Duration.toMillis(config.requestTimeout)
      })
      // a real host has a connection manager: tag the peers it should keep
      const tags = PeerTags.layer(host.peerStore, { closeCount: config.bucketSize })
      // and a host with libp2p metrics (Prometheus, ...) reports the DHT's too
      const exported = Libp2pMetrics.layer(host, config.metricsPrefix)
      // js-libp2p reports no private reachability (go's AutoNAT event), and addresses alone
      // cannot tell a LAN-only node from a reachable one: autoServer serves on
      return Layer.mergeAll(Dht.layerFromServices, tags, exported).pipe(
        Layer.provideMerge(
          layerWith(
            config,
            network,
            config.mode === "autoServer" ? Stream.empty : hostReachability(host),
            hostAddressChanges(host)
          )
        )
      )
    })
  )

/** An operation that may also fail because its part of the DHT is turned off. */
export type Disableable<F> = F extends (...args: infer P) => Effect.Effect<infer A, infer E, infer R>
  ? (...args: P) => Effect.Effect<A, E | FeatureDisabledError, R>
  : F extends (...args: infer P) => Stream.Stream<infer A, infer E, infer R>
    ? (...args: P) => Stream.Stream<A, E | FeatureDisabledError, R>
    : never

/** Operations of the assembled DHT, as Effects and Streams. */
export interface DhtShape {
  /** This node's peer ID. */
  readonly self: PeerId
  /** The resolved configuration. */
  readonly config: DHTConfig
  /** Connects to the bootstrap peers and refreshes the routing table; reports who answered. */
  readonly bootstrap: (options?: BootstrapOptions) => Effect.Effect<BootstrapReport>
  /** A peer's addresses, or None. */
  readonly findPeer: (peer: PeerId) => Effect.Effect<Option.Option<PeerInfo>>
  /** The k closest peers to a key (bytes, or a peer ID whose multihash is the key). */
  readonly getClosestPeers: (key: Uint8Array | PeerId) => Effect.Effect<ReadonlyArray<PeerInfo>>
  /** Refreshes the routing table now (every bucket with `force`) and reports what it did. */
  readonly refresh: (options?: RefreshOptions) => Effect.Effect<RefreshReport>
  readonly provide: Disableable<ContentRouting["Type"]["provide"]>
  readonly findProviders: Disableable<ContentRouting["Type"]["findProviders"]>
  readonly advertise: Disableable<ContentRouting["Type"]["advertise"]>
  readonly findPeers: Disableable<ContentRouting["Type"]["findPeers"]>
  readonly provideMany: Disableable<ContentRouting["Type"]["provideMany"]>
  readonly stopProviding: Disableable<ContentRouting["Type"]["stopProviding"]>
  readonly reprovideProgress: ContentRouting["Type"]["reprovideProgress"]
  readonly putValue: Disableable<Values["Type"]["putValue"]>
  readonly getValue: Disableable<Values["Type"]["getValue"]>
  readonly searchValue: Disableable<Values["Type"]["searchValue"]>
  readonly routingTable: RoutingTable["Type"]
  readonly nsEstimator: NetworkSizeEstimator["Type"]
  readonly mode: DhtMode["Type"]
  /** Operation and RPC counters, table and store sizes, queue depths, now. */
  readonly metrics: Effect.Effect<DhtMetricsSnapshot>
}

const keyBytes = (key: Uint8Array | PeerId): Uint8Array => (key instanceof Uint8Array ? key : key.toMultihash().bytes)

/** The assembled DHT. */
export class Dht extends Context.Tag("@effect-kad/dht/Dht")<Dht, DhtShape>() {
  /** The service over the layers of {@link layerWith}. */
  static readonly layerFromServices: Layer.Layer<Dht, never, DhtServices> = Layer.effect(
    Dht,
    Effect.gen(function* () {
      const network = yield* Network
      const config = yield* DHTConfigTag
      const peerRouting = yield* PeerRouting
      const content = yield* ContentRouting
      const values = yield* Values
      const refresh = yield* RefreshManager
      const routingTable = yield* RoutingTable
      const nsEstimator = yield* NetworkSizeEstimator
      const mode = yield* DhtMode
      const off = (feature: "values" | "providers", operation: string) =>
        new FeatureDisabledError({ feature, operation })
      const metrics = yield* DhtMetrics
      const { measure, measureStream } = metrics
      const disabled = { values: config.disableValues, providers: config.disableProviders }
      /** An operation of a feature that can be disabled: measured while on, failing with `FeatureDisabledError` when off. */
      const gated =
        <Args extends ReadonlyArray<unknown>, A, E>(
          feature: "values" | "providers",
          name: string,
          run: (...args: Args) => Effect.Effect<A, E>
        ): ((...args: Args) => Effect.Effect<A, E | FeatureDisabledError>) =>
        (...args) =>
          disabled[feature] ? Effect.fail(off(feature, name)) : measure(name, run(...args))
      /** {@link gated} for the operations that stream their results. */
      const gatedStream =
        <Args extends ReadonlyArray<unknown>, A, E>(
          feature: "values" | "providers",
          name: string,
          run: (...args: Args) => Stream.Stream<A, E>
        ): ((...args: Args) => Stream.Stream<A, E | FeatureDisabledError>) =>
        (...args) =>
          disabled[feature] ? Stream.fail(off(feature, name)) : measureStream(name, run(...args))
      return {
        self: network.self,
        config,
        bootstrap: (options) => measure("bootstrap", refresh.bootstrap(options ?? {})),
        refresh: (options) => measure("refresh", refresh.refresh(options)),
        findPeer: (peer) => measure("findPeer", peerRouting.findPeer(peer)),
        getClosestPeers: (key) => measure("getClosestPeers", peerRouting.getClosestPeers(keyBytes(key))),
        provide: gated("providers", "provide", content.provide),
        findProviders: gatedStream("providers", "findProviders", content.findProviders),
        advertise: gated("providers", "advertise", content.advertise),
        findPeers: gatedStream("providers", "findPeers", content.findPeers),
        provideMany: gated("providers", "provideMany", content.provideMany),
        stopProviding: disabled.providers
          ? () => Effect.fail(off("providers", "stopProviding"))
          : content.stopProviding,
        reprovideProgress: content.reprovideProgress,
        putValue: gated("values", "putValue", values.putValue),
        getValue: gated("values", "getValue", values.getValue),
        searchValue: gatedStream("values", "searchValue", values.searchValue),
        routingTable,
        nsEstimator,
        mode,
        metrics: metrics.snapshot
      } satisfies DhtShape
    })
  )

  /** {@link layerFromHost}. */
  static readonly layer = layerFromHost

  /** {@link layerWith}: the graph over any network layer, for simulations and tests. */
  static readonly layerWith = <E>(
    config: DHTConfig,
    network: Layer.Layer<Network, E>,
    reachability?: Stream.Stream<Reachability>,
    addressChanges?: Stream.Stream<unknown>
  ): Layer.Layer<DhtServices | Dht, E | InvalidOptionError> =>
    Dht.layerFromServices.pipe(Layer.provideMerge(layerWith(config, network, reachability, addressChanges)))
}

/** Re-exported for callers that hold a CID type. */
export type { CID }
