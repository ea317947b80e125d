/**
 * @effect-kad/routing: the Kademlia routing table, network size estimation
 * and the iterative lookup built on them.
 *
 * @module
 */
export * from "./errors.js"
export * from "./lookup/index.js"
export * from "./netsize/netsize.js"
export * from "./peer-routing/handlers.js"
export * from "./peer-routing/layer.js"
export * from "./peer-routing/lookup-check.js"
export * from "./peer-routing/maintenance.js"
export * from "./peer-routing/peer-routing.js"
export * from "./peer-routing/rpc.js"
export * from "./refresh/index.js"
export * from "./routing-table/config.js"
export { ipGroupOf, ipGroupsOf } from "./routing-table/diversity.js"
export * from "./routing-table/routing-table.js"
export type { BucketInfo, PeerEntry } from "./routing-table/table.js"
export * from "./simulation/simulation.js"
