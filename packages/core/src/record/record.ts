/**
 * DHT records as the SDK handles them: key, value and the time this node
 * received them, converted to and from the wire `Record`.
 *
 * @module
 */
import * as Either from "effect/Either"
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

/**
 * The wire form; `timeReceived` as RFC 3339 with nanosecond precision, as the
 * spec asks.
 */
export const recordToWire = (record: DhtRecord): WireRecord => ({
  key: record.key as Uint8Array<ArrayBuffer>,
  value: record.value as Uint8Array<ArrayBuffer>,
  timeReceived: formatRfc3339Nano(record.timeReceived)
})

/**
 * Formats a time as RFC 3339 with exactly nine fractional digits
 * (`2024-05-01T12:00:00.123000000Z`), the layout js-libp2p writes. Its parser
 * only reads the milliseconds right from a nine-digit fraction, so the
 * three-digit `toISOString()` form would arrive there as an invalid date; go
 * parses either.
 */
export const formatRfc3339Nano = (time: Date): string => {
  const iso = time.toISOString()
  return `${iso.slice(0, -1)}000000Z`
}

// date-time of RFC 3339 section 5.6 (with the `T`/space separator of its note)
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/**
 * Parses an RFC 3339 date-time; undefined for anything else, including the
 * looser shapes `Date.parse` would otherwise accept.
 */
export const parseRfc3339 = (text: string): Date | undefined => {
  if (!RFC3339.test(text)) return undefined
  const millis = Date.parse(text)
  return Number.isNaN(millis) ? undefined : new Date(millis)
}

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
  const parsed = wire.timeReceived ? parseRfc3339(wire.timeReceived) : undefined
  return Either.right({
    key: wire.key,
    value: wire.value,
    timeReceived: parsed ?? fallbackTime
  })
}
