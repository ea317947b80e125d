/**
 * @effect-kad/routing: the Kademlia routing table, network size estimation
 * and the iterative lookup built on them.
 *
 * @module
 */
export * from "./errors.js"
export * from "./netsize/netsize.js"
export * from "./routing-table/config.js"
export { ipGroupOf, ipGroupsOf } from "./routing-table/diversity.js"
export * from "./routing-table/routing-table.js"
export type { BucketInfo, PeerEntry } from "./routing-table/table.js"
