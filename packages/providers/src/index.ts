/**
 * @effect-kad/providers: provider records (storage, provide/findProviders,
 * discovery and optimistic provide).
 *
 * @module
 */

export * from "./content-routing/index.js"
export * from "./store/datastore.js"
export * from "./store/errors.js"
export * from "./store/memory.js"
export * from "./store/provider-store.js"
export * from "./store/service.js"
