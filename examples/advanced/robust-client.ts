/**
 * Advanced: retrying whole DHT operations with exponential backoff.
 *
 * The DHT already retries each message to each peer (`maxRetryAttempts`
 * and the backoff options); when it gives up it fails with
 * `MaxRetriesExceededException`, which this client passes on instead of
 * retrying again.
 *
 * @module
 */
import { type IpfsDHT, MaxRetriesExceededException, type PeerInfo } from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import { Duration, Effect, Either, Schedule } from "effect"

/** Settings of {@link RobustDHTClient.withRetry}. */
export interface RetryOptions {
  /** Attempts at most, the first included (default 3). */
  readonly maxAttempts?: number
  /** Pause after the first failure (default 1 second). */
  readonly baseDelay?: Duration.DurationInput
  /** Growth of the pause from one retry to the next (default 2). */
  readonly backoffFactor?: number
}

/** The guide's `RobustDHTClient`. */
export class RobustDHTClient {
  constructor(
    readonly dht: IpfsDHT,
    private readonly defaults: RetryOptions = {}
  ) {}

  /**
   * Runs `operation` until it succeeds, at most `maxAttempts` times, waiting
   * `baseDelay × backoffFactor^(n-1)` after the n-th failure. Rejects with
   * the last error, at once for a `MaxRetriesExceededException`.
   */
  async withRetry<T>(operation: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
    const { maxAttempts = 3, baseDelay = "1 second", backoffFactor = 2 } = { ...this.defaults, ...options }
    let attempt = 0
    const program = Effect.tryPromise({
      try: () => {
        attempt++
        return operation()
      },
      catch: (error) => error
    }).pipe(
      Effect.tapError((error) =>
        Effect.logDebug(
          `attempt ${attempt} of ${maxAttempts} failed: ${error instanceof Error ? error.message : error}`
        )
      ),
      Effect.retry({
        schedule: Schedule.exponential(Duration.decode(baseDelay), backoffFactor),
        times: maxAttempts - 1,
        // the DHT already did its retries
        while: (error) => !(error instanceof MaxRetriesExceededException)
      }),
      Effect.either
    )
    const outcome = await Effect.runPromise(program)
    if (Either.isLeft(outcome)) throw outcome.left
    return outcome.right
  }

  findPeerRobust(peerId: PeerId): Promise<PeerInfo | null> {
    return this.withRetry(() => this.dht.findPeer(peerId))
  }

  putValueRobust(key: string, value: Uint8Array): Promise<void> {
    return this.withRetry(() => this.dht.putValue(key, value))
  }

  getValueRobust(key: string): Promise<Uint8Array | null> {
    return this.withRetry(() => this.dht.getValue(key))
  }
}
