/**
 * The developer guide's "Custom Record Validators" example, in TypeScript:
 * `/myapp/` records are JSON with a millisecond `timestamp` and a
 * `signature`, at most 24 hours old, and the newest one wins. The guide
 * leaves the signature check to the application; here the application trusts
 * one publisher key and signs `key`, `data` and `timestamp` with it.
 */
import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PrivateKey, PublicKey } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, FastCheck as fc } from "effect"
import { fromString as uint8ArrayFromString } from "uint8arrays/from-string"
import { toString as uint8ArrayToString } from "uint8arrays/to-string"
import { InvalidRecordError } from "../src/errors.js"
import { defaultValidator } from "../src/record/default-validators.js"
import { createIpnsRecord, ipnsKey } from "../src/record/ipns.js"
import { pkKey } from "../src/record/public-key.js"
import { selectRecord, type Validator, validateRecord } from "../src/record/validator.js"

const MAX_AGE_MILLIS = 24 * 60 * 60 * 1000

/** The JSON an application stores under `/myapp/...`. */
interface MyAppRecord {
  readonly data: string
  readonly timestamp: number
  /** base64 signature over {@link signedBytes}. */
  readonly signature: string
}

const signedBytes = (key: Uint8Array, data: string, timestamp: number): Uint8Array =>
  new TextEncoder().encode(JSON.stringify([uint8ArrayToString(key, "base64"), data, timestamp]))

const hasShape = (json: unknown): json is MyAppRecord =>
  typeof json === "object" &&
  json !== null &&
  typeof (json as MyAppRecord).data === "string" &&
  typeof (json as MyAppRecord).timestamp === "number" &&
  typeof (json as MyAppRecord).signature === "string"

const parseRecord = (value: Uint8Array): unknown => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(value))

/** The guide's `CustomValidator`, with a real signature check instead of its placeholder. */
class MyAppValidator implements Validator {
  constructor(
    private readonly publisher: PublicKey,
    private readonly now: () => number = Date.now
  ) {}

  async validate(key: Uint8Array, value: Uint8Array): Promise<void> {
    const json = parseRecord(value)
    if (!hasShape(json)) throw new Error("Invalid record format")
    if (this.now() - json.timestamp > MAX_AGE_MILLIS) throw new Error("Record too old")
    let signature: Uint8Array
    try {
      signature = uint8ArrayFromString(json.signature, "base64")
    } catch {
      throw new Error("Invalid signature")
    }
    if (!(await this.publisher.verify(signedBytes(key, json.data, json.timestamp), signature))) {
      throw new Error("Invalid signature")
    }
  }

  select(_key: Uint8Array, values: ReadonlyArray<Uint8Array>): number {
    let bestIndex = 0
    let latestTimestamp = 0
    for (let i = 0; i < values.length; i++) {
      try {
        const json = parseRecord(values[i])
        if (hasShape(json) && json.timestamp > latestTimestamp) {
          latestTimestamp = json.timestamp
          bestIndex = i
        }
      } catch {
        // skip values that are not JSON, as the guide does
      }
    }
    return bestIndex
  }
}

const T0 = Date.UTC(2030, 0, 1)
const key = new TextEncoder().encode("/myapp/settings")

const publish = async (publisher: PrivateKey, data: string, timestamp: number, recordKey: Uint8Array = key) => {
  const signature = await publisher.sign(signedBytes(recordKey, data, timestamp))
  const record: MyAppRecord = { data, timestamp, signature: uint8ArrayToString(signature, "base64") }
  return new TextEncoder().encode(JSON.stringify(record))
}

/** A validator set as the guide builds it: the defaults plus `myapp`, on a clock the test moves. */
const setup = Effect.gen(function* () {
  const [publisher, stranger] = yield* Effect.promise(() =>
    Promise.all([generateKeyPair("Ed25519"), generateKeyPair("Ed25519")])
  )
  const clock = { now: T0 }
  const validator = defaultValidator().addValidator("myapp", new MyAppValidator(publisher.publicKey, () => clock.now))
  return { publisher, stranger, clock, validator }
})

const reasonOf = (validator: Validator, recordKey: Uint8Array, value: Uint8Array) =>
  Effect.flip(validateRecord(validator, recordKey, value)).pipe(
    Effect.tap((error) => expect(error).toBeInstanceOf(InvalidRecordError)),
    Effect.map((error) => error.reason)
  )

describe("a custom /myapp/ validator next to the defaults", () => {
  it.effect("accepts a fresh record signed by the publisher", () =>
    Effect.gen(function* () {
      const { publisher, validator } = yield* setup
      const value = yield* Effect.promise(() => publish(publisher, "dark-mode", T0 - 1000))
      yield* validateRecord(validator, key, value)
    })
  )

  it.effect("rejects records without timestamp or signature, and values that are not JSON", () =>
    Effect.gen(function* () {
      const { validator } = yield* setup
      const encode = (json: unknown) => new TextEncoder().encode(JSON.stringify(json))
      for (const value of [
        encode({ data: "x", signature: "AAAA" }),
        encode({ data: "x", timestamp: T0 }),
        encode({ data: "x", timestamp: String(T0), signature: "AAAA" }),
        encode([T0, "AAAA"])
      ]) {
        expect(yield* reasonOf(validator, key, value)).toBe("Invalid record format")
      }
      const notJson = yield* reasonOf(validator, key, new TextEncoder().encode("{timestamp:"))
      expect(notJson).toMatch(/JSON/)
    })
  )

  it.effect("rejects records older than 24 hours and accepts them up to that age", () =>
    Effect.gen(function* () {
      const { publisher, clock, validator } = yield* setup
      const value = yield* Effect.promise(() => publish(publisher, "dark-mode", T0))
      clock.now = T0 + MAX_AGE_MILLIS
      yield* validateRecord(validator, key, value)
      clock.now = T0 + MAX_AGE_MILLIS + 1
      expect(yield* reasonOf(validator, key, value)).toBe("Record too old")
    })
  )

  it.effect("rejects signatures by another key, over another key, or over changed content", () =>
    Effect.gen(function* () {
      const { publisher, stranger, validator } = yield* setup
      const byStranger = yield* Effect.promise(() => publish(stranger, "dark-mode", T0))
      expect(yield* reasonOf(validator, key, byStranger)).toBe("Invalid signature")

      const otherKey = new TextEncoder().encode("/myapp/other")
      const replayed = yield* Effect.promise(() => publish(publisher, "dark-mode", T0, otherKey))
      expect(yield* reasonOf(validator, key, replayed)).toBe("Invalid signature")

      const genuine = JSON.parse(
        new TextDecoder().decode(yield* Effect.promise(() => publish(publisher, "dark-mode", T0)))
      ) as MyAppRecord
      const edited = new TextEncoder().encode(JSON.stringify({ ...genuine, data: "light-mode" }))
      expect(yield* reasonOf(validator, key, edited)).toBe("Invalid signature")
      const backdated = new TextEncoder().encode(JSON.stringify({ ...genuine, timestamp: T0 + 5 }))
      expect(yield* reasonOf(validator, key, backdated)).toBe("Invalid signature")
    })
  )

  it.effect("select picks the newest record and passes over values that are not JSON", () =>
    Effect.gen(function* () {
      const { publisher, validator } = yield* setup
      const [old, newer, newest] = yield* Effect.promise(() =>
        Promise.all([T0 - 3000, T0 - 2000, T0 - 1000].map((t) => publish(publisher, `v${t}`, t)))
      )
      const junk = new TextEncoder().encode("not json")
      expect(yield* selectRecord(validator, key, [old, newest, newer])).toBe(1)
      expect(yield* selectRecord(validator, key, [junk, old, junk, newer])).toBe(3)
      expect(yield* selectRecord(validator, key, [junk, junk])).toBe(0)
    })
  )

  it.effect.prop(
    "select returns the first of the newest timestamps",
    [fc.array(fc.integer({ min: 1, max: 1_000 }), { minLength: 2, maxLength: 10 })],
    ([offsets]) =>
      Effect.gen(function* () {
        const { publisher, validator } = yield* setup
        const values = yield* Effect.promise(() => Promise.all(offsets.map((o) => publish(publisher, "x", T0 - o))))
        const newest = Math.min(...offsets)
        expect(yield* selectRecord(validator, key, values)).toBe(offsets.indexOf(newest))
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("leaves the default /pk/ and /ipns/ validators working", () =>
    Effect.gen(function* () {
      const { publisher, validator } = yield* setup
      expect(validator.namespaces().sort()).toEqual(["ipns", "myapp", "pk"])
      const peerId = peerIdFromPrivateKey(publisher)
      yield* validateRecord(validator, pkKey(peerId), publicKeyToProtobuf(publisher.publicKey))
      const ipns = yield* Effect.promise(() =>
        createIpnsRecord(publisher, "/ipfs/bafkqac3jobxhgidsn5rww4yk", 1n, 60_000)
      )
      yield* validateRecord(validator, ipnsKey(peerId), ipns)
      // A myapp value under /ipns/ is judged by the IPNS rules, not the app's.
      const myapp = yield* Effect.promise(() => publish(publisher, "dark-mode", T0, ipnsKey(peerId)))
      expect(yield* reasonOf(validator, ipnsKey(peerId), myapp)).toMatch(/^not an IPNS record/)
    })
  )
})
