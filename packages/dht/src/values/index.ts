/**
 * Value storage: record validation and storage, `putValue` / `getValue` /
 * `searchValue`, and the PUT_VALUE / GET_VALUE handlers.
 *
 * @module
 */

export * from "../internal/values/handlers.js"
export {
  bytesEqual,
  type CheckedRecord,
  checkRemoteRecord,
  type StoreOutcome,
  storeIfBetter
} from "../internal/values/records.js"
export * from "./errors.js"
export * from "./layer.js"
export * from "./record-store.js"
export * from "./validator.js"
export * from "./values.js"
