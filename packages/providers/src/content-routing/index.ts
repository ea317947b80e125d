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
