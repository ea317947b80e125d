export * from "./keys.js"
export * from "./refresh-manager.js"
