/**
 * @effect-kad/dht: the libp2p Kademlia DHT, assembled.
 *
 * - `IpfsDHT` / `DHT.new_` for Promise users, shaped like the developer guide.
 * - `Dht` (Effect service and layers) for Effect users.
 * - `kadDHT(options)` as a js-libp2p service.
 *
 * The option combinators, provider stores and validators are re-exported
 * so one import covers the guide's examples.
 *
 * @module
 */

export {
  AbortedError,
  DHTClosedError,
  FeatureDisabledError,
  InvalidOptionError,
  InvalidRecordError,
  MaxRetriesExceededException,
  MemoryNetworkHub,
  NamespacedValidator,
  NotFoundError,
  type PeerInfo,
  TimeoutError,
  type Validator
} from "@effect-kad/core"
export {
  AddressFilterSchema,
  addressFilter,
  autoRefresh,
  type BootstrapPeerInput,
  bootstrapPeers,
  bootstrapPeersFunc,
  bucketSize,
  concurrency,
  DHTConfig,
  DHTConfigSchema,
  DHTConfigTag,
  DHTMode,
  type DHTOption,
  type DHTOptions,
  DHTOptionsSchema,
  datastore,
  decodeBootstrapPeer,
  decodeDurationInput,
  defaultBootstrapPeers,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  dhtModes,
  dialTimeout,
  disableAutoRefresh,
  disableProviders,
  disableValues,
  ENV_VARIABLES,
  effectiveAddressFilter,
  emptyTableWait,
  enableOptimisticProvide,
  filterLocalhostInResponses,
  foldOptions,
  ipDiversityFilter,
  isDHTMode,
  isDHTOption,
  isLanPrefix,
  kadProtocol,
  LAN_PROTOCOL_PREFIX,
  lanDHT,
  lookupCheckConcurrency,
  MetricsPrefixSchema,
  maxDhtMessageRetries,
  maxRecordAge,
  maxRoutingTableSize,
  metricsPrefix,
  mode,
  namespacedValidator,
  onRequestHook,
  optimisticProvideJobsPoolSize,
  optionsFromEnv,
  type PeerFilter,
  type PeerInfoInput,
  PeerInfoSchema,
  type ProviderStoreLike,
  peerFilter,
  protocolPrefix,
  providerAddrTTL,
  providerStore,
  provideValidity,
  queryDeadline,
  queryFilter,
  type RequestHook,
  refreshInterval,
  reprovideInterval,
  reprovideStrategy,
  requestTimeout,
  resiliency,
  resolveOptions,
  routingTableFilter,
  routingTableRefreshPeriod,
  routingTableRefreshQueryTimeout,
  toInvalidOptionError,
  type ValidatorInput,
  validator,
  withOptions
} from "@effect-kad/options"
export {
  type AdvertiseResult,
  DatastoreProviderStore,
  MemoryProviderStore,
  ProvideError,
  type ProvideManyProgress,
  type ProvideManyResult,
  type ProviderStore,
  type ReprovideProgress,
  type ReprovideStrategy
} from "@effect-kad/providers"
export { NotEnoughDataError, WrongPeerCountError } from "@effect-kad/routing"
export {
  type BootstrapOptions,
  type CID,
  Dht,
  type DhtServices,
  type DhtShape,
  type Disableable,
  layerFromHost,
  layerWith,
  type OptionsInput
} from "./dht.js"
export * as PeerTags from "./host/peer-tags.js"
export * as TablePersistence from "./host/table-persistence.js"
export {
  type CallOptions,
  type GetValueOptions,
  IpfsDHT,
  type IpfsDHTInit
} from "./ipfs-dht.js"
export {
  KadDHTService,
  kadDHT
} from "./libp2p-service.js"
export {
  type RoutingTableHealth,
  type RoutingTableStats,
  routingTableHealth,
  routingTableStats
} from "./local-state.js"
export {
  debugLogger,
  layerDebugLogging
} from "./logging.js"
export {
  DhtMode,
  type DhtModeShape
} from "./mode/mode.js"
export {
  hostAddressChanges,
  hostReachability,
  isPublicAddress,
  type Reachability,
  reachabilityOf
} from "./mode/reachability.js"
export {
  checkHealth,
  formatHealthReport,
  type HealthCheckOptions,
  type HealthReport
} from "./monitoring/health.js"
export * as Libp2pMetrics from "./monitoring/libp2p-metrics.js"
export {
  type CallCounts,
  DhtMetrics,
  DhtMetricsRecorder,
  type DhtMetricsShape,
  type DhtMetricsSnapshot,
  MetricsRecorder,
  type MutableCounts
} from "./monitoring/metrics.js"
export {
  PerformanceMonitor,
  type PerformanceStats,
  summarize
} from "./monitoring/performance.js"
export { DHT } from "./new.js"
export {
  type GetRecordResult,
  type GetValueError,
  layerValues,
  type PutValueError,
  type PutValueOptions,
  type PutValueResult,
  RecordStore,
  type RecordStoreConfig,
  RecordStoreError,
  type RecordStoreShape,
  RecordValidator,
  ReplicationError,
  type SearchValueOptions,
  Values,
  type ValuesConfig,
  type ValuesShape
} from "./values/index.js"
