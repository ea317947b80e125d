/**
 * @effect-kad/core: the Kademlia kernel shared by every other package.
 *
 * @module
 */
export * from "./errors.js"
export * from "./kad/key.js"
export * from "./network/addresses.js"
export * as Libp2pNetwork from "./network/libp2p.js"
export * from "./network/memory.js"
export * from "./network/network.js"
export * from "./network/retry.js"
export * from "./record/default-validators.js"
export * from "./record/ipns.js"
export * from "./record/public-key.js"
export * from "./record/record.js"
export * from "./record/validator.js"
export * from "./wire/codec.js"
export * from "./wire/frame.js"
export * from "./wire/peer.js"
