/**
 * Record checks shared by the client side (putValue, getValue) and the
 * PUT_VALUE / GET_VALUE handlers.
 *
 * @module
 */
import {
  type DhtRecord,
  type InvalidKeyError,
  recordFromWire,
  selectRecord,
  type Validator,
  validateRecord,
  type WireRecord
} from "@effect-kad/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { RecordStoreError } from "../../values/errors.js"
import type { RecordStoreShape } from "../../values/record-store.js"

/** Byte equality. */
export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** What a remote sent for a key, once checked. */
export type CheckedRecord =
  | { readonly _tag: "Valid"; readonly record: DhtRecord }
  | { readonly _tag: "Invalid"; readonly reason: string }

/**
 * Checks a record received from a peer for `key`: it must decode, be for
 * exactly `key` (a peer must not answer with a record of another key, which
 * the validator alone would accept), and pass the validator.
 */
export const checkRemoteRecord = (
  validator: Validator,
  key: Uint8Array,
  wire: WireRecord,
  receivedAt: Date
): Effect.Effect<CheckedRecord> => {
  const decoded = recordFromWire(wire, receivedAt)
  if (Either.isLeft(decoded)) return Effect.succeed({ _tag: "Invalid", reason: decoded.left.reason })
  const record = decoded.right
  if (!bytesEqual(record.key, key)) {
    return Effect.succeed({ _tag: "Invalid", reason: "record is for another key" })
  }
  return validateRecord(validator, key, record.value).pipe(
    Effect.match({
      onFailure: (error): CheckedRecord => ({ _tag: "Invalid", reason: error.reason }),
      onSuccess: (): CheckedRecord => ({ _tag: "Valid", record })
    })
  )
}

/** How {@link storeIfBetter} ended. */
export type StoreOutcome =
  /** The record is now stored (it was better, equal, or nothing valid was there). */
  | { readonly _tag: "Stored" }
  /** A better valid record was already stored and stays. */
  | { readonly _tag: "Kept"; readonly existing: DhtRecord }

const STORED: StoreOutcome = { _tag: "Stored" }

/**
 * Stores an already validated `record` unless the store holds a better
 * valid one for its key, deciding under the key's lock. An equal value is
 * stored again, which refreshes its receive time (that is how republishing
 * keeps a record from expiring); an existing value that no longer
 * validates (an expired IPNS record) is replaced. A validator whose
 * `select` fails keeps the existing record: what is stored is never lost to
 * a record we cannot rank.
 */
export const storeIfBetter = (
  store: RecordStoreShape,
  validator: Validator,
  record: DhtRecord
): Effect.Effect<StoreOutcome, RecordStoreError | InvalidKeyError> =>
  store.modify(record.key, (current) =>
    Effect.gen(function* () {
      const replace: Decision = [STORED, Option.some(record)]
      if (Option.isNone(current) || bytesEqual(current.value.value, record.value)) return replace
      const existing = current.value
      const kept: Decision = [{ _tag: "Kept", existing }, Option.none()]
      const existingValid = yield* Effect.either(validateRecord(validator, record.key, existing.value))
      if (Either.isLeft(existingValid)) return replace
      const best = yield* Effect.either(selectRecord(validator, record.key, [record.value, existing.value]))
      return Either.isRight(best) && best.right === 0 ? replace : kept
    })
  )

type Decision = readonly [StoreOutcome, Option.Option<DhtRecord>]
