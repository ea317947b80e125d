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
export * from "@effect-kad/options"
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
export * from "./dht.js"
export * as PeerTags from "./host/peer-tags.js"
export * as TablePersistence from "./host/table-persistence.js"
export * from "./ipfs-dht.js"
export * from "./libp2p-service.js"
export * from "./local-state.js"
export * from "./logging.js"
export * from "./mode/mode.js"
export * from "./mode/reachability.js"
export * from "./monitoring/health.js"
export * as Libp2pMetrics from "./monitoring/libp2p-metrics.js"
export * from "./monitoring/metrics.js"
export * from "./monitoring/performance.js"
export * from "./new.js"
export {
  layerValues,
  type PutValueResult,
  RecordStore,
  RecordStoreError,
  RecordValidator,
  ReplicationError,
  type SearchValueOptions,
  Values
} from "./values/index.js"
