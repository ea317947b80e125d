/**
 * Retry with exponential backoff for requests to a single peer.
 *
 * Only {@link TransientNetworkError} and {@link TimeoutError} are retried: a
 * protocol violation will not fix itself. When the attempts run out the
 * caller sees {@link MaxRetriesExceededException} carrying the attempt count
 * and the last cause.
 *
 * @module
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { MaxRetriesExceededException, ProtocolError } from "../errors.js"
import type { RequestError } from "./network.js"

/** How often and how patiently a request is retried. */
export interface RetryPolicy {
  /** Total attempts including the first; 1 disables retries. */
  readonly maxAttempts: number
  readonly initialBackoff: Duration.DurationInput
  readonly maxBackoff: Duration.DurationInput
  /** Growth of the delay between attempts; at least 1. */
  readonly backoffFactor: number
}

/** go-libp2p-kad-dht does not retry a failed request by default; one retry after a short pause suits loopback and WAN alike. */
export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 2,
  initialBackoff: Duration.millis(250),
  maxBackoff: Duration.seconds(10),
  backoffFactor: 2
}

/** Whether a request error may pass on a later attempt. */
export const isTransient = (error: RequestError): boolean => !(error instanceof ProtocolError)

/**
 * The backoff schedule of a policy: exponential from `initialBackoff` by
 * `backoffFactor`, each delay capped at `maxBackoff`, with jitter, for at
 * most `maxAttempts - 1` retries.
 */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<unknown, RequestError> => {
  const cap = Duration.toMillis(policy.maxBackoff)
  return Schedule.exponential(policy.initialBackoff, policy.backoffFactor).pipe(
    Schedule.modifyDelay((delay) => Duration.millis(Math.min(Duration.toMillis(delay), cap))),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(Math.max(0, policy.maxAttempts - 1))),
    Schedule.whileInput(isTransient)
  )
}

/**
 * Runs `request` under `policy`. A non-transient error passes through
 * unchanged; exhausting the retries of a transient one yields
 * {@link MaxRetriesExceededException}.
 *
 * @example
 * ```ts
 * const response = yield* withRetry(network.request(peer, message), defaultRetryPolicy)
 * ```
 */
export const withRetry = <A, R>(
  request: Effect.Effect<A, RequestError, R>,
  policy: RetryPolicy
): Effect.Effect<A, ProtocolError | MaxRetriesExceededException, R> =>
  Effect.suspend(() => {
    let attempts = 0
    const counted = Effect.ensuring(
      request,
      Effect.sync(() => attempts++)
    )
    return Effect.retry(counted, retrySchedule(policy)).pipe(
      Effect.catchAll(
        (error): Effect.Effect<never, ProtocolError | MaxRetriesExceededException> =>
          error instanceof ProtocolError
            ? Effect.fail(error)
            : Effect.fail(new MaxRetriesExceededException({ attempts, lastCause: error }))
      )
    )
  })
