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

import { type InvalidOptionError, Libp2pNetwork, Network, type PeerInfo } from "@effect-kad/core"
import { DHTConfig, type DHTOption, type DHTOptions, effectiveAddressFilter } from "@effect-kad/options"
import { ContentRouting, contentRoutingLayer, type ProviderStore } from "@effect-kad/providers"
import {
  type BootstrapReport,
  NetworkSizeEstimator,
  PeerRouting,
  peerRoutingLayer,
  RefreshManager,
  RoutingTable,
  type RpcHandlers
} from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { Context, Duration, Effect, Layer, Option, Stream } from "effect"
import type { CID } from "multiformats/cid"
import * as PeerTags from "./host/peer-tags.js"
import * as TablePersistence from "./host/table-persistence.js"
import { DhtMode } from "./mode/mode.js"
import { hostReachability, type Reachability } from "./mode/reachability.js"
import * as Libp2pMetrics from "./monitoring/libp2p-metrics.js"
import { DhtMetrics, type DhtMetricsSnapshot } from "./monitoring/metrics.js"
import { Values, valuesLayer } from "./values/index.js"

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
  | DhtMetrics

/** The resolved configuration of a running DHT. */
export class DHTConfigTag extends Context.Tag("@effect-kad/dht/Config")<DHTConfigTag, DHTConfig>() {}

/** Bootstrap settings, as in the guide. */
export interface BootstrapOptions {
  /** Only connect to the bootstrap peers; skip the routing-table refresh. */
  readonly quickConnectOnly?: boolean
  /** (Re)start periodic refreshes with this interval. */
  readonly periodicRefreshInterval?: Duration.DurationInput
}

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
  reachability: Stream.Stream<Reachability> = Stream.empty
): Layer.Layer<DhtServices, E | InvalidOptionError> => {
  const millis = Duration.toMillis
  const routing = peerRoutingLayer({
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
    peerFilter: Option.getOrUndefined(config.peerFilter),
    lookupCheckConcurrency: config.lookupCheckConcurrency,
    diversity: { enabled: config.ipDiversityFilter }
  })
  const values = valuesLayer({
    maxRecordAge: config.maxRecordAge,
    datastore: Option.getOrUndefined(config.datastore),
    validator: Option.getOrUndefined(config.validator)
  })
  const providers = contentRoutingLayer({
    provideValidity: config.provideValidity,
    providerAddrTTL: config.providerAddrTTL,
    reprovideInterval: config.reprovideInterval,
    optimisticProvide: config.enableOptimisticProvide,
    optimisticProvideJobsPoolSize: config.optimisticProvideJobsPoolSize,
    providerStore: Option.getOrUndefined(config.providerStore) as ProviderStore | undefined
  })
  const refresh = RefreshManager.layer({
    autoRefresh: config.autoRefresh,
    refreshIntervalMillis: millis(config.refreshInterval),
    bootstrapPeers: config.bootstrapPeers
  })
  const mode = DhtMode.layer(config.mode, reachability)
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
      return Layer.mergeAll(Dht.Live, tags, exported).pipe(
        Layer.provideMerge(layerWith(config, network, hostReachability(host)))
      )
    })
  )

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
  readonly provide: ContentRouting["Type"]["provide"]
  readonly findProviders: ContentRouting["Type"]["findProviders"]
  readonly advertise: ContentRouting["Type"]["advertise"]
  readonly findPeers: ContentRouting["Type"]["findPeers"]
  readonly putValue: Values["Type"]["putValue"]
  readonly getValue: Values["Type"]["getValue"]
  readonly searchValue: Values["Type"]["searchValue"]
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
  static readonly Live: Layer.Layer<Dht, never, DhtServices> = Layer.effect(
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
      const metrics = yield* DhtMetrics
      const { measure, measureStream } = metrics
      return {
        self: network.self,
        config,
        bootstrap: (options) => measure("bootstrap", refresh.bootstrap(options ?? {})),
        findPeer: (peer) => measure("findPeer", peerRouting.findPeer(peer)),
        getClosestPeers: (key) => measure("getClosestPeers", peerRouting.getClosestPeers(keyBytes(key))),
        provide: (...args) => measure("provide", content.provide(...args)),
        findProviders: (...args) => measureStream("findProviders", content.findProviders(...args)),
        advertise: (...args) => measure("advertise", content.advertise(...args)),
        findPeers: (...args) => measureStream("findPeers", content.findPeers(...args)),
        putValue: (...args) => measure("putValue", values.putValue(...args)),
        getValue: (...args) => measure("getValue", values.getValue(...args)),
        searchValue: (...args) => measureStream("searchValue", values.searchValue(...args)),
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
    reachability?: Stream.Stream<Reachability>
  ): Layer.Layer<DhtServices | Dht, E | InvalidOptionError> =>
    Dht.Live.pipe(Layer.provideMerge(layerWith(config, network, reachability)))
}

/** Re-exported for callers that hold a CID type. */
export type { CID }
