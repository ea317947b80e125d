/**
 * Failures of provider storage itself, as opposed to bad input
 * (`InvalidKeyError`) or use after close (`DHTClosedError`) from
 * `@effect-kad/core`.
 *
 * @module
 */
import * as Data from "effect/Data"

/**
 * A provider store operation failed underneath: the datastore rejected a read
 * or write, or a user-supplied `ProviderStore` threw something that is not
 * one of the SDK's own errors. The original failure is kept in `cause`.
 *
 * @example
 * ```ts
 * store.getProviders(key).pipe(
 *   Effect.catchTag("ProviderStoreError", (e) => Effect.logWarning(e.message))
 * )
 * ```
 */
export class ProviderStoreError extends Data.TaggedError("ProviderStoreError")<{
  /** The store method that failed, e.g. `"addProvider"`. */
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `provider store ${this.operation} failed: ${cause}`
  }
}
