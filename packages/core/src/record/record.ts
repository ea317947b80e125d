/**
 * DHT records as the SDK handles them: key, value and the time this node
 * received them, converted to and from the wire `Record`.
 *
 * @module
 */
import { Either } from "effect"
import { DecodeError } from "../errors.js"
import type { WireRecord } from "../wire/codec.js"

/** A key/value record with the time it was received. */
export interface DhtRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array
  /** When this node received (or created) the record. */
  readonly timeReceived: Date
}

/** Builds a record stamped now (or at `at`). */
export const makeRecord = (key: Uint8Array, value: Uint8Array, at: Date = new Date()): DhtRecord => ({
  key,
  value,
  timeReceived: at
})

/** The wire form; `timeReceived` as RFC 3339, as the spec asks. */
export const recordToWire = (record: DhtRecord): WireRecord => ({
  key: record.key as Uint8Array<ArrayBuffer>,
  value: record.value as Uint8Array<ArrayBuffer>,
  timeReceived: record.timeReceived.toISOString()
})

/**
 * Reads a wire record. A missing or unparsable `timeReceived` becomes
 * `fallbackTime` (the receiver stamps records anyway); a missing key or
 * value is an error.
 */
export const recordFromWire = (
  wire: WireRecord,
  fallbackTime: Date = new Date()
): Either.Either<DhtRecord, DecodeError> => {
  if (wire.key == null || wire.key.byteLength === 0) {
    return Either.left(new DecodeError({ reason: "record has no key" }))
  }
  if (wire.value == null) {
    return Either.left(new DecodeError({ reason: "record has no value" }))
  }
  const parsed = wire.timeReceived ? Date.parse(wire.timeReceived) : Number.NaN
  return Either.right({
    key: wire.key,
    value: wire.value,
    timeReceived: Number.isNaN(parsed) ? fallbackTime : new Date(parsed)
  })
}
