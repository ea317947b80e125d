/**
 * Errors of value storage. Failures shared across the SDK (invalid records,
 * not found, invalid options) come from `@effect-kad/core`.
 *
 * @module
 */
import { printableKey } from "@effect-kad/core"
import * as Data from "effect/Data"

/**
 * The datastore under the {@link RecordStore} failed (closed, I/O error).
 * Corrupt entries are not errors: they are skipped and deleted.
 *
 * @example
 * ```ts
 * const record = yield* store.get(key).pipe(
 *   Effect.catchTag("RecordStoreError", () => Effect.succeed(Option.none()))
 * )
 * ```
 */
export class RecordStoreError extends Data.TaggedError("RecordStoreError")<{
  readonly operation: "get" | "put" | "delete" | "cleanup" | "count"
  readonly key?: Uint8Array
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    const key = this.key === undefined ? "" : ` of ${printableKey(this.key)}`
    return `record store ${this.operation}${key} failed: ${reason}`
  }
}

/**
 * `putValue` could not place the record on enough peers. The record stays
 * in the local store either way, so a later `getValue` here still finds it
 * and a republish can retry.
 *
 * `attempted` is 0 when the lookup found no peer at all (an empty routing
 * table), the case go-libp2p-kad-dht reports as "failed to find any peer in
 * table".
 *
 * @example
 * ```ts
 * yield* values.putValue(key, value).pipe(
 *   Effect.catchTag("ReplicationError", (e) => Effect.logWarning(`stored on ${e.accepted} peers only`))
 * )
 * ```
 */
export class ReplicationError extends Data.TaggedError("ReplicationError")<{
  readonly key: Uint8Array
  /** Peers a PUT_VALUE was sent to. */
  readonly attempted: number
  /** Peers that accepted (echoed) the record. */
  readonly accepted: number
  /** Acceptances needed (`minPeers`). */
  readonly required: number
}> {
  override get message(): string {
    if (this.attempted === 0) {
      return `failed to find any peer in table to store ${printableKey(this.key)} (kept locally)`
    }
    return (
      `${this.accepted} of ${this.attempted} peers accepted the record for ${printableKey(this.key)}, ` +
      `${this.required} required (kept locally)`
    )
  }
}
