/**
 * Value storage: `putValue`, `getValue` and `searchValue` over the DHT,
 * with local validation, quorums and entry correction as the libp2p
 * Kademlia specification describes them.
 *
 * @module
 */
import {
  type DhtRecord,
  InvalidKeyError,
  InvalidOptionError,
  InvalidRecordError,
  MaxRetriesExceededException,
  type Message,
  MessageType,
  makeRecord,
  type Network,
  NotFoundError,
  type PeerInfo,
  printableKey,
  recordToWire,
  selectRecord,
  TimeoutError,
  validateRecord
} from "@effect-kad/core"
import {
  type LookupEvent,
  type LookupResult,
  PeerRouting,
  type QueryOutcome,
  type QueryProgress
} from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { bytesEqual, type CheckedRecord, checkRemoteRecord, storeIfBetter } from "../internal/values/records.js"
import { type RecordStoreError, ReplicationError } from "./errors.js"
import { RecordStore } from "./record-store.js"
import { RecordValidator } from "./validator.js"

/** Options of {@link ValuesShape.putValue}. */
export interface PutValueOptions {
  /** Peers that must accept the record for the put to succeed. Default 1. */
  readonly minPeers?: number
}

/** What {@link ValuesShape.putValue} achieved. */
export interface PutValueResult {
  /** Number of peers that accepted (echoed) the record. */
  readonly stored: number
  /** Those peers. */
  readonly peers: ReadonlyArray<PeerId>
}

/** Options of {@link ValuesShape.getValue}, {@link ValuesShape.getRecord} and {@link ValuesShape.searchValue}. */
export interface SearchValueOptions {
  /**
   * Stop once this many valid values (the local one included) have been
   * collected. `0` or absent: run the lookup to completion and return the
   * best of everything found. `1` answers from the local store when it
   * holds a valid record, without any network traffic.
   */
  readonly quorum?: number
}

/** The outcome of a value search, for callers that want more than the bytes. */
export interface GetRecordResult {
  /** The best valid record found. */
  readonly record: DhtRecord
  /** Valid values collected, the local one included. */
  readonly responses: number
  /** Whether the local store held the best value (no peer had a better one). */
  readonly fromLocal: boolean
  /** Remote peers that answered with the best value. */
  readonly holders: ReadonlyArray<PeerId>
  /** Peers that answered with a record that failed validation (or was for another key); ignored. */
  readonly invalid: ReadonlyArray<PeerId>
  /** Peers that accepted the best record in entry correction. */
  readonly corrected: ReadonlyArray<PeerId>
  /** The network lookup; `None` when the quorum was met locally. */
  readonly lookup: Option.Option<LookupResult>
}

/** Why a value search failed. */
export type GetValueError = NotFoundError | InvalidKeyError | InvalidOptionError | MaxRetriesExceededException

/** Why a put failed. */
export type PutValueError =
  | InvalidRecordError
  | InvalidKeyError
  | InvalidOptionError
  | ReplicationError
  | RecordStoreError
  | MaxRetriesExceededException

/** Operations of the {@link Values} service. */
export interface ValuesShape {
  /**
   * Validates the record locally (an invalid one is refused before any
   * network traffic), stores it locally, then sends PUT_VALUE to the `k`
   * closest peers in parallel. Succeeds when at least `minPeers` echoed it.
   * Fails with `InvalidRecordError` when the local store already holds a
   * better value for the key (as go-libp2p-kad-dht refuses to replace a
   * newer value with an older one). When too few peers accept, or there
   * are none at all, it fails with {@link ReplicationError} but the local
   * copy stays; when every PUT_VALUE failed in transport (none answered),
   * with `MaxRetriesExceededException` carrying the last failure.
   */
  readonly putValue: (
    key: Uint8Array,
    value: Uint8Array,
    options?: PutValueOptions
  ) => Effect.Effect<PutValueResult, PutValueError>
  /**
   * The best valid value for `key`: the local record and every GET_VALUE
   * answer of a lookup are validated and ranked with the validator's
   * `select`. Peers that answered with an outdated value, and the closest
   * peers that had none, are sent the best record (entry correction)
   * before it returns; correction failures do not fail the get. Fails with
   * `MaxRetriesExceededException` (the last failure as `lastCause`) when
   * nothing was found and every peer the lookup asked failed to answer.
   */
  readonly getValue: (key: Uint8Array, options?: SearchValueOptions) => Effect.Effect<Uint8Array, GetValueError>
  /** {@link ValuesShape.getValue} with the details of the search. */
  readonly getRecord: (key: Uint8Array, options?: SearchValueOptions) => Effect.Effect<GetRecordResult, GetValueError>
  /**
   * The same search as a stream: each value better than every value before
   * it, as it is discovered, ending with the best. Fails with `NotFoundError`
   * when nothing valid is found. Ending the stream early cancels the search.
   */
  readonly searchValue: (key: Uint8Array, options?: SearchValueOptions) => Stream.Stream<Uint8Array, GetValueError>
}

/**
 * Value storage of a DHT node.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const values = yield* Values
 *   yield* values.putValue(key, value)
 *   return yield* values.getValue(key, { quorum: 3 })
 * })
 * ```
 */
export class Values extends Context.Tag("@effect-kad/dht/Values")<Values, ValuesShape>() {
  /** Builds the service from peer routing, the network, the record store and the validator in context. */
  static readonly make: Effect.Effect<ValuesShape, never, PeerRouting | Network | RecordStore | RecordValidator> =
    Effect.suspend(() => makeValues)

  /** The service as a layer. */
  static readonly layer: Layer.Layer<Values, never, PeerRouting | Network | RecordStore | RecordValidator> =
    Layer.effect(Values, Values.make)
}

const checkKey = (key: Uint8Array): Effect.Effect<void, InvalidKeyError> =>
  key.byteLength === 0 ? Effect.fail(new InvalidKeyError({ key, reason: "a record key cannot be empty" })) : Effect.void

const countOption = (
  field: string,
  value: number | undefined,
  fallback: number,
  min: number
): Effect.Effect<number, InvalidOptionError> => {
  const n = value ?? fallback
  return Number.isSafeInteger(n) && n >= min
    ? Effect.succeed(n)
    : Effect.fail(new InvalidOptionError({ field, reason: `must be an integer of at least ${min}, got ${n}` }))
}

/** A response to PUT_VALUE accepts the record when it echoes it. */
const echoes = (response: Message, record: DhtRecord): boolean =>
  response.record?.value !== undefined &&
  bytesEqual(response.record.value, record.value) &&
  (response.record.key === undefined || bytesEqual(response.record.key, record.key))

/**
 * Whether a failed request got no answer at all: the peer could not be
 * reached (the request never went out) or stayed silent until the
 * deadline. A reset after the request went out is how servers refuse one.
 */
const unanswered = (error: unknown, sent: boolean): boolean => !sent || error instanceof TimeoutError

/** What one PUT_VALUE came to: an echo, an answer without one, or no answer at all. */
interface PutOutcome {
  readonly accepted?: PeerId
  readonly failure?: unknown
}

const makeValues = Effect.gen(function* () {
  const routing = yield* PeerRouting
  const store = yield* RecordStore
  const validator = yield* RecordValidator

  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  /**
   * Sends PUT_VALUE to each peer in parallel; answers those that echoed the
   * record. One attempt each, as go-libp2p-kad-dht makes: a peer that
   * resets the stream has refused the record, and asking again only delays
   * the put (a pooled stream the peer had closed is still reopened once).
   */
  const putToPeers = (record: DhtRecord, peers: ReadonlyArray<PeerId>) => {
    const message: Message = {
      type: MessageType.PUT_VALUE,
      key: record.key as Uint8Array<ArrayBuffer>,
      record: recordToWire(record),
      closerPeers: [],
      providerPeers: []
    }
    return Effect.map(
      Effect.forEach(
        peers,
        (peer) => {
          let sent = false
          return routing
            .query(peer, message, {
              sent: () => {
                sent = true
              }
            })
            .pipe(
              Effect.map((response): PutOutcome => (echoes(response, record) ? { accepted: peer } : {})),
              Effect.catchAll((error) =>
                Effect.logDebug("PUT_VALUE failed").pipe(
                  Effect.annotateLogs({ peer: peer.toString(), error: String(error) }),
                  // a stream reset after the request went out is the peer refusing the record, an answer
                  Effect.as<PutOutcome>(unanswered(error, sent) ? { failure: error } : {})
                )
              )
            )
        },
        { concurrency: "unbounded" }
      ),
      (results) => ({
        accepted: results.flatMap((r) => (r.accepted === undefined ? [] : [r.accepted])),
        failures: results.flatMap((r) => ("failure" in r ? [r.failure] : []))
      })
    )
  }

  const putValue: ValuesShape["putValue"] = (key, value, options = {}) =>
    Effect.gen(function* () {
      yield* checkKey(key)
      const minPeers = yield* countOption("minPeers", options.minPeers, 1, 1)
      yield* validateRecord(validator, key, value)
      const record = makeRecord(key, value, yield* now)
      const outcome = yield* storeIfBetter(store, validator, record)
      if (outcome._tag === "Kept") {
        return yield* Effect.fail<PutValueError>(
          validationFailure(key, "the local store holds a better value for this key; refusing to replace it")
        )
      }
      let lookupFailure: unknown
      const found = yield* routing.closestPeersLookup(key, (event) =>
        Effect.sync(() => {
          if (event._tag === "PeerFailed") lookupFailure = event.error
        })
      )
      const closest = found.closest
      if (closest.length === 0 && found.responded === 0 && found.failed > 0) {
        // peers were there to ask and none answered: not the same as an empty table
        return yield* new MaxRetriesExceededException({
          operation: "putValue",
          attempts: found.failed,
          lastCause: lookupFailure
        })
      }
      const { accepted: peers, failures } = yield* putToPeers(
        record,
        closest.map((p) => p.id)
      )
      if (closest.length > 0 && failures.length === closest.length) {
        return yield* new MaxRetriesExceededException({
          operation: "putValue",
          attempts: failures.length,
          lastCause: failures[failures.length - 1]
        })
      }
      if (peers.length < minPeers) {
        return yield* new ReplicationError({
          key,
          attempted: closest.length,
          accepted: peers.length,
          required: minPeers
        })
      }
      return { stored: peers.length, peers }
    }).pipe(Effect.withSpan("Values.putValue"))

  /**
   * The search behind getValue, getRecord and searchValue. `onBetter` sees
   * each value that beats every value before it.
   */
  const search = (
    key: Uint8Array,
    options: SearchValueOptions,
    onBetter: (value: Uint8Array) => Effect.Effect<void>
  ): Effect.Effect<GetRecordResult, GetValueError> =>
    Effect.gen(function* () {
      yield* checkKey(key)
      const quorum = yield* countOption("quorum", options.quorum, 0, 0)

      let best: DhtRecord | undefined
      let selfHasBest = false
      let localOutdated = false
      let responses = 0
      const bestFrom = new Map<string, PeerId>()
      const outdated = new Map<string, PeerId>()
      const invalid = new Map<string, PeerId>()

      const consider = (from: PeerId | undefined, record: DhtRecord): Effect.Effect<void> =>
        Effect.gen(function* () {
          const adopt = (previous: "drop" | "outdate") => {
            if (previous === "outdate") {
              for (const [k, p] of bestFrom) outdated.set(k, p)
              if (selfHasBest) localOutdated = true
            }
            bestFrom.clear()
            selfHasBest = false
            best = record
          }
          const markHolder = () => {
            if (from === undefined) selfHasBest = true
            else bestFrom.set(from.toString(), from)
          }
          const markOutdated = () => {
            if (from === undefined) localOutdated = true
            else outdated.set(from.toString(), from)
          }
          if (best === undefined) {
            responses++
            adopt("drop")
            markHolder()
            return yield* onBetter(record.value)
          }
          if (bytesEqual(best.value, record.value)) {
            responses++
            markHolder()
            return
          }
          const choice = yield* Effect.either(selectRecord(validator, key, [best.value, record.value]))
          if (Either.isLeft(choice)) {
            // both values validated, so this is a validator bug: keep what we have
            return yield* Effect.logWarning("validator select failed; ignoring a value").pipe(
              Effect.annotateLogs({ key: printableKey(key), reason: choice.left.reason })
            )
          }
          responses++
          if (choice.right === 1) {
            adopt("outdate")
            markHolder()
            return yield* onBetter(record.value)
          }
          markOutdated()
        })

      // the local record counts like any answer, but only if it still validates
      const local = yield* store
        .get(key)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("reading the local record failed", error).pipe(Effect.as(Option.none<DhtRecord>()))
          )
        )
      if (Option.isSome(local)) {
        const valid = yield* Effect.either(validateRecord(validator, key, local.value.value))
        if (Either.isRight(valid)) yield* consider(undefined, local.value)
        else localOutdated = true
      }

      const quorumMet = () => quorum > 0 && responses >= quorum

      const query = (peer: PeerInfo, progress: QueryProgress): Effect.Effect<QueryOutcome<CheckedRecord>, unknown> =>
        Effect.gen(function* () {
          const response = yield* routing.query(
            peer.id,
            {
              type: MessageType.GET_VALUE,
              key: key as Uint8Array<ArrayBuffer>,
              closerPeers: [],
              providerPeers: []
            },
            {
              sent: () => {
                sentTo.add(peer.id.toString())
                progress.sent()
              }
            }
          )
          const closer = yield* routing.closerPeersFrom(peer.id, response)
          if (response.record === undefined) return { closer }
          // validated here, in the query's own fiber, so slow signature checks run in parallel
          const payload = yield* checkRemoteRecord(validator, key, response.record, yield* now)
          return { closer, payload }
        })

      let lastFailure: unknown
      let refusals = 0
      const sentTo = new Set<string>()
      const observe = (event: LookupEvent<CheckedRecord, unknown>): Effect.Effect<void> => {
        if (event._tag === "PeerFailed") {
          if (unanswered(event.error, sentTo.has(event.peer.toString()))) lastFailure = event.error
          else refusals++
        }
        if (event._tag !== "PeerResponded" || event.outcome.payload === undefined) return Effect.void
        const payload = event.outcome.payload
        if (payload._tag === "Valid") return consider(event.peer, payload.record)
        invalid.set(event.peer.toString(), event.peer)
        return Effect.logDebug("discarded an invalid record").pipe(
          Effect.annotateLogs({ key: printableKey(key), peer: event.peer.toString(), reason: payload.reason })
        )
      }

      const lookup = quorumMet()
        ? Option.none<LookupResult>()
        : Option.some(yield* routing.lookup(key, query, { stopWhen: quorumMet }, observe))

      if (best === undefined) {
        // nobody answered at all: not a finding that the value is absent
        if (Option.isSome(lookup) && lookup.value.responded === 0 && lookup.value.failed > 0 && refusals === 0) {
          return yield* new MaxRetriesExceededException({
            operation: "getValue",
            attempts: lookup.value.failed,
            lastCause: lastFailure
          })
        }
        return yield* new NotFoundError({ key, what: "value" })
      }
      const winner: DhtRecord = best

      // entry correction: outdated peers always; peers that answered without the
      // best value only when the lookup ran to its end, so they are the k closest
      const targets = new Map(outdated)
      if (Option.isSome(lookup) && lookup.value.reason !== "stopped") {
        for (const peer of lookup.value.closest) {
          const k = peer.id.toString()
          if (!bestFrom.has(k)) targets.set(k, peer.id)
        }
      }
      const fresh = makeRecord(key, winner.value, yield* now)
      const corrected = targets.size === 0 ? [] : (yield* putToPeers(fresh, [...targets.values()])).accepted
      if (localOutdated) {
        yield* storeIfBetter(store, validator, fresh).pipe(
          Effect.catchAll((error) => Effect.logWarning("updating the local record failed", error))
        )
      }

      return {
        record: winner,
        responses,
        fromLocal: selfHasBest,
        holders: [...bestFrom.values()],
        invalid: [...invalid.values()],
        corrected,
        lookup
      } satisfies GetRecordResult
    })

  const getRecord: ValuesShape["getRecord"] = (key, options = {}) =>
    search(key, options, () => Effect.void).pipe(Effect.withSpan("Values.getValue"))

  const getValue: ValuesShape["getValue"] = (key, options) =>
    Effect.map(getRecord(key, options), (result) => result.record.value)

  const searchValue: ValuesShape["searchValue"] = (key, options = {}) =>
    Stream.asyncPush<Uint8Array, GetValueError>(
      (emit) =>
        search(key, options, (value) => Effect.sync(() => void emit.single(value))).pipe(
          Effect.matchEffect({
            onSuccess: () => Effect.sync(() => emit.end()),
            onFailure: (error) => Effect.sync(() => emit.fail(error))
          }),
          Effect.withSpan("Values.searchValue"),
          Effect.forkScoped
        ),
      { bufferSize: "unbounded" }
    )

  return { putValue, getValue, getRecord, searchValue } satisfies ValuesShape
})

const validationFailure = (key: Uint8Array, reason: string): InvalidRecordError =>
  new InvalidRecordError({ key, reason })
