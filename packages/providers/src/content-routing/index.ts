export * from "./content-routing.js"
export * from "./errors.js"
export * from "./handlers.js"
export * from "./layer.js"
export * from "./namespace.js"
export {
  OPTIMISTIC_INDIVIDUAL_CERTAINTY,
  OPTIMISTIC_RETURN_RATIO,
  OPTIMISTIC_SET_STRICTNESS,
  type OptimisticThresholds,
  optimisticThresholds
} from "./optimistic.js"
export { DEFAULT_PROVIDED_KEYS_PREFIX } from "./provided-keys.js"
export { keyspaceFraction, MAX_REGION_DEPTH } from "./regions.js"
export type {
  ProvideManyProgress,
  ProvideManyResult,
  ReprovideProgress,
  ReprovideStrategy
} from "./sweep.js"
