/**
 * Errors specific to the routing package. Failures shared across the SDK
 * (timeouts, invalid options) live in `@effect-kad/core`.
 *
 * @module
 */
import * as Data from "effect/Data"

/**
 * The network size estimator has too few recent measurements to produce an
 * estimate. More completed `getClosestPeers` lookups (tracked with
 * `NetworkSizeEstimator.track`) fix it; old measurements expire.
 *
 * @example
 * ```ts
 * const size = yield* estimator.estimate.pipe(
 *   Effect.catchTag("NotEnoughDataError", () => Effect.succeed(undefined))
 * )
 * ```
 */
export class NotEnoughDataError extends Data.TaggedError("NotEnoughDataError")<{
  /** Measurements currently held (after dropping expired ones). */
  readonly samples: number
  /** Measurements needed before an estimate is produced. */
  readonly required: number
}> {
  override get message(): string {
    return `not enough data to estimate the network size: ${this.samples} of ${this.required} measurements`
  }
}

/**
 * A lookup result handed to the network size estimator did not hold exactly
 * `k` peers. Only complete results are comparable: the estimator fits the
 * distance of the i-th closest peer for every rank 1..k.
 */
export class WrongPeerCountError extends Data.TaggedError("WrongPeerCountError")<{
  readonly expected: number
  readonly actual: number
}> {
  override get message(): string {
    return `expected exactly ${this.expected} closest peers, got ${this.actual}`
  }
}
