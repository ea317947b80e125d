import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import {
  MaxRetriesExceededException,
  ProtocolError,
  type RetryPolicy,
  TimeoutError,
  TransientNetworkError,
  withRetry
} from "../src/index.js"

const policy: RetryPolicy = {
  maxAttempts: 3,
  initialBackoff: Duration.millis(500),
  maxBackoff: Duration.seconds(30),
  backoffFactor: 2
}

describe("retries of one request", () => {
  it.effect("a request that keeps failing gives up after maxAttempts with the last failure as its cause", () =>
    Effect.gen(function* () {
      let attempts = 0
      const request = Effect.suspend((): Effect.Effect<never, TransientNetworkError | TimeoutError> => {
        attempts++
        return attempts < 3
          ? Effect.fail(new TransientNetworkError({ peer: "p", reason: `reset ${attempts}` }))
          : Effect.fail(new TimeoutError({ operation: "request to p", millis: 10 }))
      })
      const fiber = yield* Effect.fork(Effect.flip(withRetry(request, policy)))
      // the backoff pauses (jittered, at most 500 ms then 1 s plus jitter) pass on the test clock
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error).toBeInstanceOf(MaxRetriesExceededException)
      if (!(error instanceof MaxRetriesExceededException)) return
      expect(error.attempts).toBe(3)
      expect(attempts).toBe(3)
      expect(error.lastCause).toBeInstanceOf(TimeoutError)
      expect(error.message).toMatch(/gave up after 3 attempts: request to p timed out/)
    })
  )

  it.effect("a request that succeeds on a retry returns its answer", () =>
    Effect.gen(function* () {
      let attempts = 0
      const request = Effect.suspend(() =>
        ++attempts === 1 ? Effect.fail(new TransientNetworkError({ peer: "p", reason: "reset" })) : Effect.succeed("ok")
      )
      const fiber = yield* Effect.fork(withRetry(request, policy))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(attempts).toBe(2)
    })
  )

  it.effect("a protocol violation is not retried and passes through as it is", () =>
    Effect.gen(function* () {
      let attempts = 0
      const violation = new ProtocolError({ peer: "p", reason: "garbage" })
      const request = Effect.suspend(() => {
        attempts++
        return Effect.fail(violation)
      })
      expect(yield* Effect.flip(withRetry(request, policy))).toBe(violation)
      expect(attempts).toBe(1)
    })
  )

  it.effect("maxAttempts 1 makes one attempt", () =>
    Effect.gen(function* () {
      let attempts = 0
      const request = Effect.suspend(() => {
        attempts++
        return Effect.fail(new TransientNetworkError({ peer: "p", reason: "refused" }))
      })
      const error = yield* Effect.flip(withRetry(request, { ...policy, maxAttempts: 1 }))
      expect(error).toBeInstanceOf(MaxRetriesExceededException)
      expect(attempts).toBe(1)
    })
  )
})
