/**
 * Value storage: record validation and storage, `putValue` / `getValue` /
 * `searchValue`, and the PUT_VALUE / GET_VALUE handlers.
 *
 * @module
 */
export * from "./errors.js"
export * from "./handlers.js"
export * from "./layer.js"
export * from "./record-store.js"
export { bytesEqual, type CheckedRecord, checkRemoteRecord, type StoreOutcome, storeIfBetter } from "./records.js"
export * from "./validator.js"
export * from "./values.js"
