import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { formatRfc3339Nano, makeRecord, WireRecord } from "@effect-kad/core"
import { MemoryDatastore } from "datastore-core"
import { LevelDatastore } from "datastore-level"
import { Clock, Duration, Effect, Exit, FastCheck as fc, Option, Random, Scope, TestClock } from "effect"
import { Key } from "interface-datastore"
import { base32 } from "multiformats/bases/base32"
import {
  checkRemoteRecord,
  DEFAULT_MAX_RECORD_AGE,
  RecordStore,
  type RecordStoreConfig,
  storeIfBetter
} from "../src/values/index.js"
import { bytes, sequenceOf, testValidator, text, vKey } from "./values-fixtures.js"

const entryKey = (key: Uint8Array) => new Key(`/dht/record/${base32.baseEncode(key)}`)

const openStore = (config: RecordStoreConfig) => RecordStore.make({ cleanupInterval: Duration.infinity, ...config })

const at = (millis: number) => new Date(millis)

describe("RecordStore", () => {
  it.scoped("lays records out as /dht/record/<base32 key> holding the wire Record protobuf", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      const store = yield* openStore({ datastore })
      const key = vKey("layout")
      const record = makeRecord(key, bytes("1:v"), at(1234))
      yield* store.put(record)
      const raw = yield* Effect.promise(async () => datastore.get(entryKey(key)))
      const wire = WireRecord.decode(raw)
      expect(wire.key).toEqual(key)
      expect(wire.value).toEqual(bytes("1:v"))
      expect(wire.timeReceived).toBe(formatRfc3339Nano(at(1234)))
      const back = Option.getOrThrow(yield* store.get(key))
      expect(back.timeReceived.getTime()).toBe(1234)
      expect(store.maxRecordAgeMillis).toBe(Duration.toMillis(DEFAULT_MAX_RECORD_AGE))

      yield* store.delete(key)
      expect(Option.isNone(yield* store.get(key))).toBe(true)
      expect(yield* Effect.promise(async () => datastore.has(entryKey(key)))).toBe(false)
      // an empty key can hold nothing
      expect(Option.isNone(yield* store.get(new Uint8Array()))).toBe(true)
      const empty = yield* Effect.flip(store.put(makeRecord(new Uint8Array(), bytes("x"))))
      expect(empty._tag).toBe("InvalidKeyError")
    })
  )

  it.scoped("treats records older than maxRecordAge as absent and deletes them (TestClock)", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      const store = yield* openStore({ datastore, maxRecordAge: "1 hour" })
      const key = vKey("aging")
      yield* store.put(makeRecord(key, bytes("1:v"), at(yield* Clock.currentTimeMillis)))
      yield* TestClock.adjust("60 minutes")
      // exactly maxRecordAge old is still young enough
      expect(Option.map(yield* store.get(key), (r) => text(r.value))).toEqual(Option.some("1:v"))
      yield* TestClock.adjust("1 millis")
      expect(Option.isNone(yield* store.get(key))).toBe(true)
      expect(yield* Effect.promise(async () => datastore.has(entryKey(key)))).toBe(false)
    })
  )

  it.scoped("cleans expired entries up periodically without anyone reading them", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      const store = yield* RecordStore.make({ datastore, maxRecordAge: "1 hour", cleanupInterval: "10 minutes" })
      const early = vKey("early")
      const late = vKey("late")
      yield* store.put(makeRecord(early, bytes("1:e"), at(0)))
      yield* TestClock.adjust("50 minutes")
      yield* store.put(makeRecord(late, bytes("1:l"), at(yield* Clock.currentTimeMillis)))
      const has = (key: Uint8Array) => Effect.promise(async () => datastore.has(entryKey(key)))
      yield* TestClock.adjust("10 minutes")
      expect(yield* has(early)).toBe(true)
      yield* TestClock.adjust("10 minutes")
      expect(yield* has(early)).toBe(false)
      expect(yield* has(late)).toBe(true)
    })
  )

  it.scoped("skips and deletes corrupt entries instead of failing, and leaves foreign keys alone", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      const store = yield* openStore({ datastore })
      const put = (key: Key, value: Uint8Array) => Effect.promise(async () => datastore.put(key, value))
      const has = (key: Key) => Effect.promise(async () => datastore.has(key))

      const good = vKey("good")
      yield* store.put(makeRecord(good, bytes("1:fine"), at(0)))
      const junk = vKey("junk")
      yield* put(entryKey(junk), Uint8Array.of(0xff, 0xff, 0xff))
      const misplaced = vKey("misplaced")
      yield* put(
        entryKey(misplaced),
        WireRecord.encode({
          key: vKey("elsewhere") as Uint8Array<ArrayBuffer>,
          value: bytes("1:x") as Uint8Array<ArrayBuffer>,
          timeReceived: formatRfc3339Nano(at(0))
        })
      )
      const timeless = vKey("timeless")
      yield* put(
        entryKey(timeless),
        WireRecord.encode({ key: timeless as Uint8Array<ArrayBuffer>, value: bytes("1:x") as Uint8Array<ArrayBuffer> })
      )
      const notBase32 = new Key("/dht/record/NOT-BASE32!")
      yield* put(notBase32, Uint8Array.of(1))
      const foreign = new Key("/providers/something")
      yield* put(foreign, Uint8Array.of(1))

      expect(Option.isNone(yield* store.get(junk))).toBe(true)
      expect(yield* has(entryKey(junk))).toBe(false)
      expect(Option.isNone(yield* store.get(misplaced))).toBe(true)
      expect(yield* has(entryKey(misplaced))).toBe(false)

      expect(yield* store.cleanup).toBe(2)
      expect(yield* has(entryKey(timeless))).toBe(false)
      expect(yield* has(notBase32)).toBe(false)
      expect(yield* has(foreign)).toBe(true)
      expect(Option.map(yield* store.get(good), (r) => text(r.value))).toEqual(Option.some("1:fine"))
    })
  )

  it.live(
    "survives closing and reopening a LevelDatastore",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "effect-kad-records-")))
        try {
          const key = vKey("durable")
          const received = at(Date.now() - 5_000)
          const first = new LevelDatastore(dir)
          yield* Effect.promise(() => first.open())
          const scope = yield* Scope.make()
          const store = yield* Scope.extend(openStore({ datastore: first }), scope)
          yield* store.put(makeRecord(key, bytes("7:kept"), received))
          yield* Scope.close(scope, Exit.void)
          yield* Effect.promise(() => first.close())

          const second = new LevelDatastore(dir)
          yield* Effect.promise(() => second.open())
          const reopened = yield* Effect.scoped(Effect.flatMap(openStore({ datastore: second }), (s) => s.get(key)))
          yield* Effect.promise(() => second.close())
          const record = Option.getOrThrow(reopened)
          expect(text(record.value)).toBe("7:kept")
          expect(record.timeReceived.getTime()).toBe(received.getTime())
        } finally {
          yield* Effect.promise(() => rm(dir, { recursive: true, force: true }))
        }
      }),
    30_000
  )

  it.effect("rejects invalid settings", () =>
    Effect.gen(function* () {
      const fields = yield* Effect.forEach(
        [{ maxRecordAge: 0 }, { maxRecordAge: Duration.infinity }, { cleanupInterval: -1 }, { prefix: "no-slash" }],
        (config) => Effect.scoped(Effect.flip(RecordStore.make(config as RecordStoreConfig)))
      )
      expect(fields.map((e) => e.field)).toEqual(["maxRecordAge", "maxRecordAge", "cleanupInterval", "prefix"])
    })
  )
})

describe("keeping the better record", () => {
  const validator = testValidator()

  it.effect.prop(
    "concurrent stores of many versions leave the best one, whatever the order",
    [fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 40 })],
    ([sequences]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const store = yield* openStore({})
          const key = vKey("race")
          const shuffled = yield* Random.shuffle(sequences)
          yield* Effect.forEach(
            shuffled,
            (n) => storeIfBetter(store, validator, makeRecord(key, bytes(`${n}:v`), at(0))),
            { concurrency: "unbounded" }
          )
          const stored = Option.getOrThrow(yield* store.get(key))
          expect(sequenceOf(stored.value)).toBe(Math.max(...sequences))
        })
      ),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped("a worse record is kept out, an equal one refreshes the time, an invalid stored one is replaced", () =>
    Effect.gen(function* () {
      const store = yield* openStore({})
      const key = vKey("better")
      expect((yield* storeIfBetter(store, validator, makeRecord(key, bytes("5:a"), at(10))))._tag).toBe("Stored")
      const worse = yield* storeIfBetter(store, validator, makeRecord(key, bytes("4:b"), at(20)))
      expect(worse._tag).toBe("Kept")
      expect(Option.map(yield* store.get(key), (r) => [text(r.value), r.timeReceived.getTime()])).toEqual(
        Option.some(["5:a", 10])
      )
      expect((yield* storeIfBetter(store, validator, makeRecord(key, bytes("5:a"), at(30))))._tag).toBe("Stored")
      expect(Option.map(yield* store.get(key), (r) => r.timeReceived.getTime())).toEqual(Option.some(30))

      yield* store.put(makeRecord(key, bytes("garbage"), at(40)))
      expect((yield* storeIfBetter(store, validator, makeRecord(key, bytes("1:c"), at(50))))._tag).toBe("Stored")
      expect(Option.map(yield* store.get(key), (r) => text(r.value))).toEqual(Option.some("1:c"))
    })
  )

  it.effect("a remote record must be for the requested key and validate", () =>
    Effect.gen(function* () {
      const key = vKey("asked")
      const wire = (k: Uint8Array, v: string) => ({
        key: k as Uint8Array<ArrayBuffer>,
        value: bytes(v) as Uint8Array<ArrayBuffer>
      })
      const ok = yield* checkRemoteRecord(validator, key, wire(key, "1:x"), at(5))
      expect(ok._tag).toBe("Valid")
      if (ok._tag === "Valid") expect(ok.record.timeReceived.getTime()).toBe(5)
      // valid for its own key, but not what was asked for
      expect((yield* checkRemoteRecord(validator, key, wire(vKey("other"), "1:x"), at(5)))._tag).toBe("Invalid")
      expect((yield* checkRemoteRecord(validator, key, wire(key, "no sequence"), at(5)))._tag).toBe("Invalid")
      expect(
        (yield* checkRemoteRecord(validator, key, { value: bytes("1:x") as Uint8Array<ArrayBuffer> }, at(5)))._tag
      ).toBe("Invalid")
    })
  )
})
