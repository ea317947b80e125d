/**
 * Server-side handlers of PUT_VALUE and GET_VALUE.
 *
 * @module
 */
import {
  type Message,
  MessageType,
  printableKey,
  RequestRefusedError,
  recordFromWire,
  recordToWire,
  validateRecord
} from "@effect-kad/core"
import { PeerRouting, RpcHandlers } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { RecordStore } from "../../values/record-store.js"
import { RecordValidator } from "../../values/validator.js"
import { bytesEqual, storeIfBetter } from "./records.js"

/** Refuses a request: the network resets the stream at once, as go and js servers do. */
const refuse = (from: PeerId, reason: string, key?: Uint8Array) =>
  Effect.logDebug("refused PUT_VALUE").pipe(
    Effect.annotateLogs({ peer: from.toString(), reason, key: key === undefined ? "" : printableKey(key) }),
    Effect.zipRight(Effect.fail(new RequestRefusedError({ reason })))
  )

/**
 * Answers PUT_VALUE. The message key must equal the record's key and the
 * record must validate; otherwise nothing is stored and the request is
 * refused (the stream is reset, as go-libp2p-kad-dht does). A valid record is
 * stamped with the time it arrived and kept unless a better valid record is
 * already stored; the request is echoed when it was stored. When the stored
 * record wins, the answer carries that record instead, which every
 * implementation's client reads as "not stored", without waiting for a
 * timeout.
 */
export const handlePutValue = (from: PeerId, request: Message) =>
  Effect.gen(function* () {
    const store = yield* RecordStore
    const validator = yield* RecordValidator
    const key = request.key
    if (key === undefined || key.byteLength === 0) return yield* refuse(from, "no key")
    if (request.record === undefined) return yield* refuse(from, "no record", key)
    const now = new Date(yield* Clock.currentTimeMillis)
    const decoded = recordFromWire(request.record, now)
    if (Either.isLeft(decoded)) return yield* refuse(from, decoded.left.reason, key)
    if (!bytesEqual(decoded.right.key, key)) return yield* refuse(from, "message key differs from record key", key)
    const valid = yield* Effect.either(validateRecord(validator, key, decoded.right.value))
    if (Either.isLeft(valid)) return yield* refuse(from, valid.left.reason, key)
    const record = { key: decoded.right.key, value: decoded.right.value, timeReceived: now }
    const outcome = yield* Effect.either(storeIfBetter(store, validator, record))
    if (Either.isLeft(outcome)) {
      return yield* Effect.logWarning("storing a PUT_VALUE record failed", outcome.left).pipe(Effect.as(undefined))
    }
    if (outcome.right._tag === "Stored") return request
    const response: Message = {
      type: MessageType.PUT_VALUE,
      key,
      record: recordToWire(outcome.right.existing),
      closerPeers: [],
      providerPeers: []
    }
    return response
  })

/**
 * Answers GET_VALUE with the stored record (when present and younger than
 * the maximum record age) and the closest peers this node knows. The record
 * is not validated here: the requester validates every record it receives,
 * which keeps serving cheap, as go-libp2p-kad-dht's reasoning goes.
 */
export const handleGetValue = (from: PeerId, request: Message) =>
  Effect.gen(function* () {
    const store = yield* RecordStore
    const routing = yield* PeerRouting
    const key = request.key
    if (key === undefined || key.byteLength === 0)
      return yield* new RequestRefusedError({ reason: "GET_VALUE without a key" })
    const closerPeers = yield* routing.closerPeersFor(key, from)
    const record = yield* store
      .get(key)
      .pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("reading a record for GET_VALUE failed", error).pipe(Effect.as(Option.none()))
        )
      )
    const response: Message = {
      type: MessageType.GET_VALUE,
      key,
      record: Option.isSome(record) ? recordToWire(record.value) : undefined,
      closerPeers,
      providerPeers: []
    }
    return response
  })

/** Registers PUT_VALUE and GET_VALUE with the node's {@link RpcHandlers}. */
export const layerValueHandlers = RpcHandlers.register<RecordStore | RecordValidator | PeerRouting>({
  [MessageType.PUT_VALUE]: handlePutValue,
  [MessageType.GET_VALUE]: handleGetValue
})
