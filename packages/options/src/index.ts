/**
 * @effect-kad/options: how a DHT node is configured. Write a
 * {@link DHTOptions} object or a list of {@link DHTOption}s built with the
 * combinators (`mode`, `bucketSize`, ...), then resolve it into a validated
 * {@link DHTConfig} with the Amino defaults filled in.
 *
 * @example
 * ```ts
 * import { bucketSize, concurrency, DHTMode, mode, resolveOptions } from "@effect-kad/options"
 *
 * const base = [mode(DHTMode.client), bucketSize(15)]
 * const config = resolveOptions([...base, concurrency(5)])
 * ```
 *
 * @module
 */
export {
  AddressFilterSchema,
  addressFilter,
  effectiveAddressFilter,
  isLanPrefix,
  LAN_PROTOCOL_PREFIX,
  lanDHT
} from "./addresses.js"
export { defaultBootstrapPeers } from "./bootstrap-peers.js"
export {
  autoRefresh,
  bootstrapPeers,
  bootstrapPeersFunc,
  bucketSize,
  concurrency,
  type DHTOption,
  datastore,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  dialTimeout,
  disableAutoRefresh,
  disableProviders,
  disableValues,
  emptyTableWait,
  enableOptimisticProvide,
  filterLocalhostInResponses,
  ipDiversityFilter,
  isDHTOption,
  lookupCheckConcurrency,
  maxDhtMessageRetries,
  maxRecordAge,
  maxRoutingTableSize,
  mode,
  namespacedValidator,
  onRequestHook,
  optimisticProvideJobsPoolSize,
  peerFilter,
  protocolPrefix,
  providerAddrTTL,
  providerStore,
  provideValidity,
  queryDeadline,
  queryFilter,
  refreshInterval,
  reprovideInterval,
  reprovideStrategy,
  requestTimeout,
  resiliency,
  routingTableFilter,
  routingTableRefreshPeriod,
  routingTableRefreshQueryTimeout,
  validator,
  withOptions
} from "./combinators.js"
export {
  DHTConfig,
  DHTConfigSchema,
  DHTOptionsSchema,
  foldOptions,
  kadProtocol,
  resolveOptions,
  toInvalidOptionError
} from "./config.js"
export { ENV_VARIABLES, type EnvParser, optionsFromEnv } from "./env.js"
export { decodeBootstrapPeer, decodeDurationInput, PeerInfoSchema } from "./fields.js"
export {
  MetricsPrefixSchema,
  metricsPrefix
} from "./metrics.js"
export {
  DHTMode,
  dhtModes,
  isDHTMode
} from "./mode.js"
export type {
  BootstrapPeerInput,
  DHTOptions,
  PeerFilter,
  PeerInfoInput,
  ProviderStoreLike,
  RequestHook,
  ValidatorInput
} from "./options.js"
export { DHTConfigTag } from "./service.js"
