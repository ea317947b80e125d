/**
 * Every failure the SDK reports, as tagged errors so callers can
 * `Effect.catchTag` precisely and plain-Promise users get an `Error`
 * with a readable message and a `_tag` to switch on.
 *
 * @module
 */
import * as Data from "effect/Data"

/** A key that cannot be used for this operation (empty, too long, wrong shape). */
export class InvalidKeyError extends Data.TaggedError("InvalidKeyError")<{
  readonly key: Uint8Array
  readonly reason: string
}> {
  override get message(): string {
    return `invalid key (${this.key.byteLength} bytes): ${this.reason}`
  }
}

/** A record that a validator refused, or that does not match its key. */
export class InvalidRecordError extends Data.TaggedError("InvalidRecordError")<{
  readonly key: Uint8Array
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `invalid record for key ${printableKey(this.key)}: ${this.reason}`
  }
}

/** A frame whose declared length exceeds the allowed maximum; refused before any allocation. */
export class MessageTooLargeError extends Data.TaggedError("MessageTooLargeError")<{
  readonly size: number
  readonly limit: number
}> {
  override get message(): string {
    return `message of ${this.size} bytes exceeds the limit of ${this.limit} bytes`
  }
}

/** Bytes that are not a valid Kademlia protobuf message or length prefix. */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot decode DHT message: ${this.reason}`
  }
}

/** Nothing valid was found for the key. */
export class NotFoundError extends Data.TaggedError("NotFoundError")<{
  readonly key: Uint8Array
  readonly what: "value" | "peer" | "providers"
}> {
  override get message(): string {
    return `${this.what} not found for key ${printableKey(this.key)}`
  }
}

/** An operation or a single request ran past its deadline. */
export class TimeoutError extends Data.TaggedError("TimeoutError")<{
  readonly operation: string
  readonly millis: number
}> {
  override get message(): string {
    return `${this.operation} timed out after ${this.millis} ms`
  }
}

/**
 * A request to one peer failed for a reason that may pass (dial failure,
 * stream reset, timeout). Only these are retried.
 */
export class TransientNetworkError extends Data.TaggedError("TransientNetworkError")<{
  readonly peer: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `request to ${this.peer} failed: ${this.reason}`
  }
}

/** A remote peer answered with something that breaks the protocol; never retried. */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly peer: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `protocol violation by ${this.peer}: ${this.reason}`
  }
}

/**
 * A request handler refused a request (invalid record, missing key). The
 * network resets the stream at once, as go and js servers do, instead of
 * leaving the requester waiting for a reply that will not come.
 */
export class RequestRefusedError extends Data.TaggedError("RequestRefusedError")<{
  readonly reason: string
}> {
  override get message(): string {
    return `request refused: ${this.reason}`
  }
}

/**
 * The retry schedule ran out. The name matches the developer guide so code
 * written against it reads the same.
 */
export class MaxRetriesExceededException extends Data.TaggedError("MaxRetriesExceededException")<{
  readonly attempts: number
  readonly lastCause: unknown
  /**
   * The DHT operation every request of which failed (`putValue`,
   * `getValue`); absent when one request ran out of retries.
   */
  readonly operation?: string
}> {
  override get message(): string {
    const cause = this.lastCause instanceof Error ? this.lastCause.message : String(this.lastCause)
    const what = this.operation === undefined ? "" : `${this.operation}: every request failed; `
    return `${what}gave up after ${this.attempts} attempts: ${cause}`
  }
}

/**
 * An operation of a part of the DHT that the options turned off
 * (`disableValues`, `disableProviders`), as go-libp2p-kad-dht answers
 * `routing.ErrNotSupported`.
 *
 * @example
 * ```ts
 * yield* dht.putValue(key, value).pipe(
 *   Effect.catchTag("FeatureDisabledError", (e) => Effect.logInfo(`${e.feature} are off here`))
 * )
 * ```
 */
export class FeatureDisabledError extends Data.TaggedError("FeatureDisabledError")<{
  readonly feature: "values" | "providers"
  readonly operation: string
}> {
  override get message(): string {
    const option = this.feature === "values" ? "disableValues" : "disableProviders"
    return `cannot ${this.operation}: ${this.feature} are turned off on this node (${option})`
  }
}

/** The DHT was closed; no further operations are accepted. */
export class DHTClosedError extends Data.TaggedError("DHTClosedError")<{
  readonly operation: string
}> {
  override get message(): string {
    return `cannot ${this.operation}: the DHT is closed`
  }
}

/** A configuration value outside its allowed range; names the field. */
export class InvalidOptionError extends Data.TaggedError("InvalidOptionError")<{
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid option ${this.field}: ${this.reason}`
  }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends Data.TaggedError("AbortedError")<{
  readonly operation: string
}> {
  override get message(): string {
    return `${this.operation} was aborted`
  }
}

const textDecoder = new TextDecoder("utf-8", { fatal: true })

/** Renders a key for messages: as text when it is printable UTF-8, else as hex. */
export const printableKey = (key: Uint8Array): string => {
  try {
    const text = textDecoder.decode(key.subarray(0, 64))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
    if (!/[\u0000-\u001f]/.test(text)) return key.byteLength > 64 ? `${text}…` : text
  } catch {
    // not UTF-8: fall through to hex
  }
  const hex = Array.from(key.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join("")
  return key.byteLength > 32 ? `0x${hex}…` : `0x${hex}`
}
