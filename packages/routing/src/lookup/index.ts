export * from "./find-node.js"
export * from "./lookup.js"
