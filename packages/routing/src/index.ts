/**
 * @effect-kad/routing: the Kademlia routing table, network size estimation
 * and the iterative lookup built on them.
 *
 * @module
 */
export {
  NotEnoughDataError,
  WrongPeerCountError
} from "./errors.js"
export { ipGroupOf, ipGroupsOf } from "./internal/routing-table/diversity.js"
export type { BucketInfo, PeerEntry } from "./internal/routing-table/table.js"
export {
  defaultQueryDeadline,
  type QueryDeadline,
  type QueryDeadlineConfig
} from "./lookup/deadline.js"
export { findNodeQuery } from "./lookup/find-node.js"
export {
  type LookupEvent,
  type LookupParams,
  type LookupResult,
  type LookupSpec,
  lookupStream,
  type QueryOutcome,
  type QueryProgress,
  runLookup
} from "./lookup/lookup.js"
export {
  DEFAULT_MAX_MEASUREMENT_AGE_MILLIS,
  DEFAULT_MAX_MEASUREMENTS,
  DEFAULT_MIN_MEASUREMENTS,
  NetworkSizeEstimator,
  type NetworkSizeEstimatorConfig,
  type NetworkSizeEstimatorShape
} from "./netsize/netsize.js"
export { layerPeerRoutingHandlers } from "./peer-routing/handlers.js"
export {
  layerPeerRouting,
  type PeerRoutingLayerConfig
} from "./peer-routing/layer.js"
export {
  type LookupCheckTable,
  lookupCheck
} from "./peer-routing/lookup-check.js"
export {
  layerRoutingTableMaintenance,
  type MaintenanceConfig
} from "./peer-routing/maintenance.js"
export {
  type LookupOptions,
  PeerRouting,
  type PeerRoutingConfig,
  type PeerRoutingShape
} from "./peer-routing/peer-routing.js"
export {
  type MessageHandler,
  RpcHandlers,
  type RpcHandlersShape
} from "./peer-routing/rpc.js"
export {
  type BootstrapOptions,
  type BootstrapReport,
  type BucketRefreshOutcome,
  DEFAULT_LIVENESS_CHECK_CONCURRENCY,
  DEFAULT_LOW_PEERS_BOOTSTRAP_DIALS,
  DEFAULT_LOW_PEERS_CHECK_INTERVAL_MILLIS,
  DEFAULT_LOW_PEERS_MIN_GAP_MILLIS,
  DEFAULT_LOW_PEERS_THRESHOLD,
  DEFAULT_PEER_TIMEOUT_MILLIS,
  DEFAULT_REFRESH_QUERY_TIMEOUT_MILLIS,
  type LowPeersFixReport,
  type RefreshConfig,
  type RefreshLookupOutcome,
  RefreshManager,
  type RefreshManagerShape,
  type RefreshOptions,
  type RefreshReport,
  type RefreshStatus
} from "./refresh/refresh-manager.js"
export {
  DEFAULT_ALPHA,
  DEFAULT_BUCKET_SIZE,
  DEFAULT_MAX_PER_GROUP_PER_BUCKET,
  DEFAULT_MAX_PER_GROUP_PER_TABLE,
  DEFAULT_REFRESH_INTERVAL_MILLIS,
  type DiversityConfig,
  defaultUsefulnessGracePeriodMillis,
  maxLastSuccessfulOutboundThresholdMillis,
  type RoutingTableConfig,
  type UsefulnessThresholdParams
} from "./routing-table/config.js"
export {
  RoutingTable,
  type RoutingTableEvent,
  type RoutingTableShape,
  type TableEvent,
  type TryAddOptions
} from "./routing-table/routing-table.js"
export {
  generatePeerIds,
  makeSimulation,
  type SimulatedNode,
  type SimulatedServices,
  type Simulation,
  type SimulationConfig,
  simulationDefaults
} from "./simulation/simulation.js"
