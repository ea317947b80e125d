/**
 * The local store of DHT records: what this node serves to GET_VALUE and
 * keeps from PUT_VALUE, over any `interface-datastore` Datastore.
 *
 * @module
 */
import {
  type DhtRecord,
  formatRfc3339Nano,
  InvalidKeyError,
  InvalidOptionError,
  parseRfc3339,
  WireRecord
} from "@effect-kad/core"
import { MemoryDatastore } from "datastore-core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type Datastore, Key } from "interface-datastore"
import { base32 } from "multiformats/bases/base32"
import { RecordStoreError } from "./errors.js"

/** Default {@link RecordStoreConfig.maxRecordAge}: 36 hours, go-libp2p-kad-dht's `MaxRecordAge`. */
export const DEFAULT_MAX_RECORD_AGE: Duration.Duration = Duration.hours(36)

/** Default {@link RecordStoreConfig.cleanupInterval}: one hour. */
export const DEFAULT_RECORD_CLEANUP_INTERVAL: Duration.Duration = Duration.hours(1)

/** Default {@link RecordStoreConfig.prefix}: where @libp2p/kad-dht keeps records too. */
export const DEFAULT_RECORD_PREFIX = "/dht/record"

/** Settings of {@link RecordStore.layer}. */
export interface RecordStoreConfig {
  /**
   * Where records live. Default: a fresh `MemoryDatastore`. The store does
   * not open or close a datastore it is given; its owner does.
   */
  readonly datastore?: Datastore
  /** Records received longer ago than this are treated as absent and deleted. Default 36 h. */
  readonly maxRecordAge?: Duration.DurationInput
  /**
   * Time between two sweeps of expired and corrupt entries; the first runs
   * one interval after the layer is built. Default 1 h. `Duration.infinity`
   * runs none (expired records are still hidden and deleted when read).
   */
  readonly cleanupInterval?: Duration.DurationInput
  /** Datastore namespace of the entries. Default `/dht/record`. */
  readonly prefix?: string
}

/** Operations of the {@link RecordStore} service. */
export interface RecordStoreShape {
  /** The record under `key`; `None` when absent, expired or unreadable (the latter two are deleted). */
  readonly get: (key: Uint8Array) => Effect.Effect<Option.Option<DhtRecord>, RecordStoreError>
  /** Stores `record` under its key as given (no validation, no comparison with what is there). */
  readonly put: (record: DhtRecord) => Effect.Effect<void, RecordStoreError | InvalidKeyError>
  /** Removes the record under `key`, if any. */
  readonly delete: (key: Uint8Array) => Effect.Effect<void, RecordStoreError>
  /**
   * Reads, decides and writes the record under `key` as one step: no other
   * write to that key runs in between. `f` sees the live record (`None`
   * when absent or expired) and returns a result plus the record to store
   * (`None` leaves the entry as it is). The record to store must be for
   * `key`; anything else is a bug and dies.
   */
  readonly modify: <A, E, R>(
    key: Uint8Array,
    f: (current: Option.Option<DhtRecord>) => Effect.Effect<readonly [A, Option.Option<DhtRecord>], E, R>
  ) => Effect.Effect<A, E | RecordStoreError | InvalidKeyError, R>
  /** Deletes every expired or unreadable entry; answers how many were removed. */
  readonly cleanup: Effect.Effect<number, RecordStoreError>
  /** The configured maximum record age, in milliseconds. */
  readonly maxRecordAgeMillis: number
  /** How many entries the store holds, expired ones included until a cleanup (reads every key: for metrics, not hot paths). */
  readonly count: Effect.Effect<number, RecordStoreError>
}

/**
 * The node's record store. Entries live under `/dht/record/<base32 key>`
 * (the layout @libp2p/kad-dht uses) with the wire `Record` protobuf as
 * value, its `timeReceived` in RFC 3339. Time is read from the Effect
 * `Clock`, so `TestClock` moves expiry.
 *
 * @example
 * ```ts
 * const datastore = new LevelDatastore("./records")
 * await datastore.open()
 * const layer = RecordStore.layer({ datastore, maxRecordAge: "24 hours" })
 * const record = yield* Effect.flatMap(RecordStore, (store) => store.get(key))
 * ```
 */
export class RecordStore extends Context.Tag("@effect-kad/dht/RecordStore")<RecordStore, RecordStoreShape>() {
  /** Builds a store; its periodic cleanup runs until the scope closes. */
  static readonly make = (
    config: RecordStoreConfig = {}
  ): Effect.Effect<RecordStoreShape, InvalidOptionError, Scope.Scope> => makeRecordStore(config)

  /** The store as a layer. */
  static readonly layer = (config: RecordStoreConfig = {}): Layer.Layer<RecordStore, InvalidOptionError> =>
    Layer.scoped(RecordStore, makeRecordStore(config))
}

/** How many independent locks serialise writes; keys hash onto them. */
const LOCK_STRIPES = 64

type Lookup =
  | { readonly _tag: "Live"; readonly record: DhtRecord }
  | { readonly _tag: "Absent" }
  /** Expired, undecodable, or holding a record for another key: to be deleted. */
  | { readonly _tag: "Stale"; readonly reason: string }

const ABSENT: Lookup = { _tag: "Absent" }

const isNotFound = (cause: unknown): boolean =>
  cause instanceof Error && (cause.name === "NotFoundError" || (cause as { code?: unknown }).code === "ERR_NOT_FOUND")

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** Encodes a record for the datastore. */
export const encodeStoredRecord = (record: DhtRecord): Uint8Array =>
  WireRecord.encode({
    key: record.key as Uint8Array<ArrayBuffer>,
    value: record.value as Uint8Array<ArrayBuffer>,
    timeReceived: formatRfc3339Nano(record.timeReceived)
  })

/**
 * Decodes a stored entry, or says why it is unusable. A stored record
 * always carries its key, value and receive time; any of them missing means
 * the entry is corrupt (we cannot judge its age).
 */
export const decodeStoredRecord = (bytes: Uint8Array, expectedKey?: Uint8Array): DhtRecord | string => {
  let wire: WireRecord
  try {
    wire = WireRecord.decode(bytes)
  } catch (cause) {
    return `undecodable entry: ${cause instanceof Error ? cause.message : String(cause)}`
  }
  if (wire.key == null || wire.key.byteLength === 0) return "entry has no key"
  if (wire.value == null) return "entry has no value"
  if (expectedKey !== undefined && !bytesEqual(wire.key, expectedKey)) return "entry holds a record for another key"
  const timeReceived = wire.timeReceived === undefined ? undefined : parseRfc3339(wire.timeReceived)
  if (timeReceived === undefined) return "entry has no valid timeReceived"
  return { key: wire.key, value: wire.value, timeReceived }
}

const durationMillis = (
  field: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration,
  allowInfinite: boolean
): Effect.Effect<number, InvalidOptionError> =>
  Effect.suspend(() => {
    const decoded = input === undefined ? Option.some(fallback) : Duration.decodeUnknown(input)
    if (Option.isNone(decoded)) {
      return Effect.fail(new InvalidOptionError({ field, reason: "is not a duration" }))
    }
    const millis = Duration.toMillis(decoded.value)
    if (!(millis > 0) || (!allowInfinite && !Number.isFinite(millis))) {
      return Effect.fail(
        new InvalidOptionError({ field, reason: allowInfinite ? "must be positive" : "must be positive and finite" })
      )
    }
    return Effect.succeed(millis)
  })

const makeRecordStore = (config: RecordStoreConfig): Effect.Effect<RecordStoreShape, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const maxAge = yield* durationMillis("maxRecordAge", config.maxRecordAge, DEFAULT_MAX_RECORD_AGE, false)
    const interval = yield* durationMillis(
      "cleanupInterval",
      config.cleanupInterval,
      DEFAULT_RECORD_CLEANUP_INTERVAL,
      true
    )
    const prefix = config.prefix ?? DEFAULT_RECORD_PREFIX
    if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(prefix)) {
      return yield* new InvalidOptionError({ field: "prefix", reason: "must look like /name or /name/sub" })
    }
    const datastore: Datastore = config.datastore ?? new MemoryDatastore()
    const locks = yield* Effect.forEach(Array.from({ length: LOCK_STRIPES }), () => Effect.makeSemaphore(1))

    const lockOf = (key: Uint8Array) => {
      // FNV-1a: cheap and spreads short, similar keys across stripes
      let h = 0x811c9dc5
      for (let i = 0; i < key.byteLength; i++) h = Math.imul(h ^ key[i], 0x01000193)
      return locks[(h >>> 0) % LOCK_STRIPES]
    }
    const withLock = (key: Uint8Array) => lockOf(key).withPermits(1)

    const dsKey = (key: Uint8Array) => new Key(`${prefix}/${base32.baseEncode(key)}`)

    const fail = (operation: RecordStoreError["operation"], key?: Uint8Array) => (cause: unknown) =>
      new RecordStoreError({ operation, key, cause })

    const read = (key: Uint8Array): Effect.Effect<Lookup, RecordStoreError> =>
      Effect.gen(function* () {
        const bytes = yield* Effect.tryPromise({
          try: async () => {
            try {
              return await datastore.get(dsKey(key))
            } catch (cause) {
              if (isNotFound(cause)) return undefined
              throw cause
            }
          },
          catch: fail("get", key)
        })
        if (bytes === undefined) return ABSENT
        const decoded = decodeStoredRecord(bytes, key)
        if (typeof decoded === "string") return { _tag: "Stale", reason: decoded }
        const now = yield* Clock.currentTimeMillis
        if (now - decoded.timeReceived.getTime() > maxAge) return { _tag: "Stale", reason: "expired" }
        return { _tag: "Live", record: decoded }
      })

    const remove = (key: Uint8Array) =>
      Effect.tryPromise({ try: async () => datastore.delete(dsKey(key)), catch: fail("delete", key) })

    const write = (record: DhtRecord) =>
      Effect.tryPromise({
        try: async () => {
          await datastore.put(dsKey(record.key), encodeStoredRecord(record))
        },
        catch: fail("put", record.key)
      })

    const emptyKey = (key: Uint8Array) => new InvalidKeyError({ key, reason: "a record key cannot be empty" })

    /** Deletes the entry if it is still stale once the key's lock is held. */
    const dropIfStale = (key: Uint8Array): Effect.Effect<boolean, RecordStoreError> =>
      withLock(key)(
        Effect.flatMap(read(key), (again) =>
          again._tag === "Stale"
            ? remove(key).pipe(
                Effect.tap(() =>
                  Effect.logDebug("dropped a stored record").pipe(Effect.annotateLogs("reason", again.reason))
                ),
                Effect.as(true)
              )
            : Effect.succeed(false)
        )
      )

    const get: RecordStoreShape["get"] = (key) =>
      key.byteLength === 0
        ? Effect.succeedNone
        : Effect.flatMap(read(key), (found) => {
            switch (found._tag) {
              case "Live":
                return Effect.succeedSome(found.record)
              case "Absent":
                return Effect.succeedNone
              case "Stale":
                return Effect.as(dropIfStale(key), Option.none())
            }
          })

    const put: RecordStoreShape["put"] = (record) =>
      record.key.byteLength === 0 ? Effect.fail(emptyKey(record.key)) : withLock(record.key)(write(record))

    const del: RecordStoreShape["delete"] = (key) => (key.byteLength === 0 ? Effect.void : withLock(key)(remove(key)))

    const modify: RecordStoreShape["modify"] = (key, f) =>
      key.byteLength === 0
        ? Effect.fail(emptyKey(key))
        : withLock(key)(
            Effect.gen(function* () {
              const found = yield* read(key)
              const current = found._tag === "Live" ? Option.some(found.record) : Option.none()
              const [result, next] = yield* f(current)
              if (Option.isSome(next)) {
                if (!bytesEqual(next.value.key, key)) {
                  return yield* Effect.dieMessage("RecordStore.modify: the new record is for another key")
                }
                yield* write(next.value)
              } else if (found._tag === "Stale") {
                yield* remove(key)
              }
              return result
            })
          )

    const keyOfEntry = (entry: Key): Uint8Array | undefined => {
      const text = entry.toString()
      if (!text.startsWith(`${prefix}/`)) return undefined
      const encoded = text.slice(prefix.length + 1)
      if (encoded.length === 0 || encoded.includes("/")) return undefined
      try {
        return base32.baseDecode(encoded)
      } catch {
        return undefined
      }
    }

    const cleanup: RecordStoreShape["cleanup"] = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // First collect, then delete: deleting while a datastore query iterates is not safe for every backend.
      const candidates = yield* Effect.tryPromise({
        try: async () => {
          const stale: Array<{ readonly entry: Key; readonly key: Uint8Array | undefined }> = []
          for await (const { key: entry, value } of datastore.query({ prefix: `${prefix}/` })) {
            const key = keyOfEntry(entry)
            const decoded = key === undefined ? "unparsable datastore key" : decodeStoredRecord(value, key)
            if (typeof decoded === "string" || now - decoded.timeReceived.getTime() > maxAge) {
              stale.push({ entry, key })
            }
          }
          return stale
        },
        catch: fail("cleanup")
      })
      let removed = 0
      for (const { entry, key } of candidates) {
        if (key === undefined) {
          // not a record key at all: nothing can ever read it, so nothing can race with its removal
          yield* Effect.tryPromise({ try: async () => datastore.delete(entry), catch: fail("cleanup") })
          removed++
        } else if (yield* dropIfStale(key)) {
          removed++
        }
      }
      return removed
    })

    const count: RecordStoreShape["count"] = Effect.tryPromise({
      try: async () => {
        let entries = 0
        for await (const _ of datastore.queryKeys({ prefix: `${prefix}/` })) entries++
        return entries
      },
      catch: fail("count")
    })

    if (Number.isFinite(interval)) {
      yield* cleanup.pipe(
        Effect.tap((removed) =>
          removed > 0 ? Effect.logDebug(`record store cleanup removed ${removed} entries`) : Effect.void
        ),
        Effect.catchAll((error) => Effect.logWarning("record store cleanup failed", error)),
        Effect.delay(Duration.millis(interval)),
        Effect.forever,
        Effect.forkScoped
      )
    }

    return {
      get,
      put,
      delete: del,
      modify,
      cleanup,
      maxRecordAgeMillis: maxAge,
      count
    } satisfies RecordStoreShape
  })
