/**
 * What can go wrong in a `kad-dht` command, as tagged errors whose
 * `message` is what the user reads.
 *
 * @module
 */
import * as Data from "effect/Data"

/** The node's identity key could not be read, parsed or written. */
export class IdentityError extends Data.TaggedError("IdentityError")<{
  readonly path: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `identity key ${this.path}: ${this.reason}`
  }
}

/** The libp2p host or one of the durable stores could not be started or stopped. */
export class StartupError extends Data.TaggedError("StartupError")<{
  readonly what: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot start ${this.what}: ${this.reason}`
  }
}

/** A DHT operation failed (network, timeout, invalid record, closed DHT). */
export class OperationError extends Data.TaggedError("OperationError")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} failed: ${this.reason}`
  }
}

/** An operation completed but found nothing (no value, no providers, unknown peer). */
export class NothingFoundError extends Data.TaggedError("NothingFoundError")<{
  readonly operation: string
  readonly subject: string
}> {
  override get message(): string {
    return `${this.operation}: nothing found for ${this.subject}`
  }
}

/** None of the bootstrap peers could be reached, so the network cannot be queried. */
export class BootstrapError extends Data.TaggedError("BootstrapError")<{
  readonly peers: ReadonlyArray<string>
}> {
  override get message(): string {
    return this.peers.length === 0
      ? "no bootstrap peers given: pass --bootstrap <multiaddr ending in /p2p/<peer id>>"
      : `could not reach any bootstrap peer (${this.peers.join(", ")})`
  }
}

/** Every error a command may end with. */
export type CliError = IdentityError | StartupError | OperationError | NothingFoundError | BootstrapError

/** A readable reason for any thrown or failed value. */
export const reasonOf = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message
  if (typeof cause === "object" && cause !== null && "message" in cause) return String(cause.message)
  return String(cause)
}
