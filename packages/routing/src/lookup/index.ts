export * from "./deadline.js"
export * from "./find-node.js"
export * from "./lookup.js"
