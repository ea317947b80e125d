/**
 * @effect-kad/providers: provider records (storage, provide/findProviders,
 * discovery and optimistic provide).
 *
 * @module
 */

export {
  type AdvertiseOptions,
  type AdvertiseResult,
  ContentRouting,
  type ContentRoutingConfig,
  type ContentRoutingShape,
  DEFAULT_ADVERTISE_TTL_MILLIS,
  DEFAULT_FIND_PEERS_LIMIT,
  DEFAULT_OPTIMISTIC_PROVIDE_JOBS_POOL_SIZE,
  DEFAULT_REPLICATION,
  DEFAULT_REPROVIDE_INTERVAL_MILLIS,
  type FindPeersOptions,
  type FindProvidersOptions,
  type ProvideManyOptions,
  type ProvideOptions
} from "./content-routing/content-routing.js"
export { ProvideError } from "./content-routing/errors.js"
export { layerProviderHandlers } from "./content-routing/handlers.js"
export {
  type ContentRoutingLayerConfig,
  layerContentRouting
} from "./content-routing/layer.js"
export { namespaceCid } from "./content-routing/namespace.js"
export { DEFAULT_PROVIDED_KEYS_PREFIX } from "./internal/content-routing/provided-keys.js"
export type {
  ProvideManyProgress,
  ProvideManyResult,
  ReprovideProgress,
  ReprovideStrategy
} from "./internal/content-routing/sweep.js"
export {
  DatastoreProviderStore,
  type DatastoreProviderStoreOptions,
  DEFAULT_PROVIDER_CACHE_KEYS,
  DEFAULT_PROVIDER_DATASTORE_PREFIX
} from "./store/datastore.js"
export { ProviderStoreError } from "./store/errors.js"
export {
  DEFAULT_MAX_PROVIDER_KEYS,
  DEFAULT_MAX_PROVIDERS_PER_KEY,
  MemoryProviderStore,
  type MemoryProviderStoreOptions,
  type MemoryProviderStoreStats
} from "./store/memory.js"
export {
  DEFAULT_PROVIDE_VALIDITY_MILLIS,
  DEFAULT_PROVIDER_ADDR_TTL_MILLIS,
  type GetProvidersOptions,
  MAX_PROVIDER_KEY_BYTES,
  MIN_PROVIDER_KEY_BYTES,
  type ProviderStore,
  type ProviderStoreOptions,
  type ProviderStoreStats,
  validateProviderKey
} from "./store/provider-store.js"
export {
  DEFAULT_PROVIDER_CLEANUP_INTERVAL_MILLIS,
  type ProviderStoreFailure,
  type ProviderStoreLayerOptions,
  ProviderStoreService,
  type ProviderStoreServiceShape
} from "./store/service.js"
