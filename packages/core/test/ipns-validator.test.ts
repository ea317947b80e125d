import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair, generateKeyPairFromSeed, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PrivateKey } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import * as cborg from "cborg"
import { Effect, Either, FastCheck as fc } from "effect"
import { createIPNSRecord, createIPNSRecordWithExpiration, marshalIPNSRecord, unmarshalIPNSRecord } from "ipns"
import { ipnsSelector as referenceSelector } from "ipns/selector"
import { ipnsValidator as referenceValidator } from "ipns/validator"
import { CID } from "multiformats/cid"
import { InvalidRecordError } from "../src/errors.js"
import { defaultValidator, withDefaultNamespaces } from "../src/record/default-validators.js"
import {
  createIpnsRecord,
  createIpnsRecordWithExpiration,
  DEFAULT_IPNS_TTL_NANOS,
  decodeIpnsRecord,
  IPNS_PREFIX,
  ipnsKey,
  ipnsValidator,
  MAX_IPNS_RECORD_SIZE,
  makeIpnsValidator
} from "../src/record/ipns.js"
import { IpnsEntry } from "../src/record/ipns-entry.generated.js"
import { NamespacedValidator, selectRecord, type Validator, validateRecord } from "../src/record/validator.js"

const PATH = "/ipfs/bafkqac3jobxhgidsn5rww4yk"
const HOUR = 60 * 60 * 1000
const text = new TextEncoder()

const ed25519 = Effect.promise(() => generateKeyPair("Ed25519"))
const keyOf = (privateKey: PrivateKey) => ipnsKey(peerIdFromPrivateKey(privateKey))

const ours = (validator: Validator, key: Uint8Array, value: Uint8Array) => validateRecord(validator, key, value)
const oursRejects = (key: Uint8Array, value: Uint8Array, validator: Validator = ipnsValidator) =>
  Effect.flip(validateRecord(validator, key, value))
const reference = (key: Uint8Array, value: Uint8Array) => Effect.tryPromise(() => referenceValidator(key, value))
const referenceRejects = (key: Uint8Array, value: Uint8Array) => Effect.flip(reference(key, value))

/** Signs arbitrary CBOR data the V2 way, so a test can isolate one field check with a valid signature. */
const signData = (privateKey: PrivateKey, data: Uint8Array, extra: Partial<IpnsEntry> = {}) =>
  Effect.promise(async () => {
    const signature = await privateKey.sign(new Uint8Array([...text.encode("ipns-signature:"), ...data]))
    return IpnsEntry.encode({
      ...extra,
      signatureV2: signature as Uint8Array<ArrayBuffer>,
      data: data as Uint8Array<ArrayBuffer>
    })
  })

/** Valid record data with some fields replaced and some left out. */
const cborData = (fields: Record<string, unknown>, omit: ReadonlyArray<string> = []) => {
  const data: Record<string, unknown> = {
    Value: text.encode(PATH),
    Validity: text.encode("2999-01-01T00:00:00.000000000Z"),
    ValidityType: 0,
    Sequence: 1n,
    TTL: DEFAULT_IPNS_TTL_NANOS,
    ...fields
  }
  for (const name of omit) delete data[name]
  return cborg.encode(data)
}

/** Appends an unknown length-delimited protobuf field (number 15) so the record reaches `total` bytes. */
const padTo = (record: Uint8Array, total: number): Uint8Array => {
  const payload = total - record.byteLength - 3
  if (payload < 128 || payload >= 16384) throw new Error("padding length must need a two-byte varint")
  return new Uint8Array([...record, (15 << 3) | 2, (payload & 0x7f) | 0x80, payload >>> 7, ...new Uint8Array(payload)])
}

describe("ipnsKey", () => {
  it.effect("is /ipns/ followed by the peer ID multihash", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      expect(key.subarray(0, IPNS_PREFIX.byteLength)).toEqual(text.encode("/ipns/"))
      expect(key.subarray(IPNS_PREFIX.byteLength)).toEqual(peerIdFromPrivateKey(privateKey).toMultihash().bytes)
    })
  )
})

describe("createIpnsRecord", () => {
  it.effect("writes the same bytes as the reference implementation's V2-only records", () =>
    Effect.gen(function* () {
      // Ed25519 signatures are deterministic, so equal data means equal records.
      const privateKey = yield* Effect.promise(() => generateKeyPairFromSeed("Ed25519", new Uint8Array(32).fill(7)))
      const expiration = "2031-05-06T07:08:09.123000000Z"
      const mine = yield* Effect.promise(() =>
        createIpnsRecordWithExpiration(privateKey, PATH, 42n, new Date(expiration), 123_456n)
      )
      const theirs = yield* Effect.promise(() =>
        createIPNSRecordWithExpiration(privateKey, PATH, 42n, expiration, { v1Compatible: false, ttlNs: 123_456n })
      )
      expect(mine).toEqual(marshalIPNSRecord(theirs))
    })
  )

  it.effect("writes the DAG-CBOR fields in canonical order with the given sequence, TTL and lifetime", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const before = Date.now()
      const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, text.encode(PATH), 7, HOUR))
      const after = Date.now()
      const record = Either.getOrThrow(decodeIpnsRecord(keyOf(privateKey), bytes))
      expect(Object.keys(cborg.decode(record.data))).toEqual(["TTL", "Value", "Sequence", "Validity", "ValidityType"])
      expect(new TextDecoder().decode(record.value)).toBe(PATH)
      expect(record.sequence).toBe(7n)
      expect(record.ttl).toBe(DEFAULT_IPNS_TTL_NANOS)
      expect(record.pubKey).toBeUndefined()
      expect(record.validity).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/)
      expect(record.validUntilNanos).toBeGreaterThanOrEqual(BigInt(before + HOUR) * 1_000_000n)
      expect(record.validUntilNanos).toBeLessThanOrEqual(BigInt(after + HOUR) * 1_000_000n)
    })
  )

  it.effect("refuses values that are not paths and out-of-range numbers", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const attempts: Array<() => Promise<Uint8Array>> = [
        () => createIpnsRecord(privateKey, "bafkqac3jobxhgidsn5rww4yk", 1, HOUR),
        () => createIpnsRecord(privateKey, "/", 1, HOUR),
        () => createIpnsRecord(privateKey, new Uint8Array(0), 1, HOUR),
        () => createIpnsRecord(privateKey, PATH, -1, HOUR),
        () => createIpnsRecord(privateKey, PATH, 2n ** 64n, HOUR),
        () => createIpnsRecord(privateKey, PATH, 1.5, HOUR),
        () => createIpnsRecord(privateKey, PATH, 1, -1),
        () => createIpnsRecord(privateKey, PATH, 1, Number.NaN),
        () => createIpnsRecord(privateKey, PATH, 1, HOUR, -5n),
        () => createIpnsRecord(privateKey, `/ipfs/${"a".repeat(MAX_IPNS_RECORD_SIZE)}`, 1, HOUR)
      ]
      for (const attempt of attempts) {
        const error = yield* Effect.flip(Effect.tryPromise({ try: attempt, catch: (e) => e }))
        expect(error).toBeInstanceOf(Error)
      }
    })
  )

  it.effect.prop(
    "keeps every millisecond of the expiration and any uint64 sequence",
    [
      fc.date({
        min: new Date("1970-01-01T00:00:00Z"),
        max: new Date("9999-12-31T23:59:59.999Z"),
        noInvalidDate: true
      }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
    ],
    ([expiration, sequence]) =>
      Effect.gen(function* () {
        const privateKey = yield* Effect.promise(() => generateKeyPairFromSeed("Ed25519", new Uint8Array(32)))
        const bytes = yield* Effect.promise(() =>
          createIpnsRecordWithExpiration(privateKey, PATH, sequence, expiration)
        )
        const record = Either.getOrThrow(decodeIpnsRecord(keyOf(privateKey), bytes))
        expect(record.validUntilNanos).toBe(BigInt(expiration.getTime()) * 1_000_000n)
        expect(record.sequence).toBe(sequence)
        // The reference parser reads the same fields.
        const theirs = unmarshalIPNSRecord(bytes)
        expect(theirs.sequence).toBe(sequence)
        expect(theirs.validity).toBe(record.validity)
      }),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("interop with the reference implementation (npm ipns)", () => {
  it.effect("records we create pass both validators, for inlined and embedded public keys", () =>
    Effect.gen(function* () {
      const keys = yield* Effect.promise(() =>
        Promise.all([generateKeyPair("Ed25519"), generateKeyPair("secp256k1"), generateKeyPair("RSA", 2048)])
      )
      for (const privateKey of keys) {
        const key = keyOf(privateKey)
        const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 3n, HOUR))
        yield* ours(ipnsValidator, key, bytes)
        yield* reference(key, bytes)
        const record = Either.getOrThrow(decodeIpnsRecord(key, bytes))
        // Only RSA peer IDs hash their key, so only RSA records carry it.
        expect(record.pubKey).toEqual(privateKey.type === "RSA" ? publicKeyToProtobuf(privateKey.publicKey) : undefined)
      }
    })
  )

  it.effect("records the reference creates (V1+V2 and V2-only) pass ours and decode to the same fields", () =>
    Effect.gen(function* () {
      const keys = yield* Effect.promise(() => Promise.all([generateKeyPair("Ed25519"), generateKeyPair("RSA", 2048)]))
      for (const privateKey of keys) {
        const key = keyOf(privateKey)
        for (const v1Compatible of [true, false]) {
          const created = yield* Effect.promise(() =>
            createIPNSRecord(privateKey, PATH, 9n, HOUR, { v1Compatible, ttlNs: 10_000n })
          )
          const bytes = marshalIPNSRecord(created)
          yield* ours(ipnsValidator, key, bytes)
          const record = Either.getOrThrow(decodeIpnsRecord(key, bytes))
          expect(new TextDecoder().decode(record.value)).toBe(created.value)
          expect(record.validity).toBe(created.validity)
          expect(record.sequence).toBe(9n)
          expect(record.ttl).toBe(10_000n)
          expect(record.signatureV2).toEqual(Uint8Array.from(created.signatureV2))
        }
      }
    })
  )

  it.effect.prop(
    "select picks the same record as the reference selector",
    [
      fc.array(
        fc.record({
          sequence: fc.bigInt({ min: 0n, max: 3n }),
          expiresIn: fc.integer({ min: 0, max: 3 })
        }),
        { minLength: 2, maxLength: 8 }
      )
    ],
    ([specs]) =>
      Effect.gen(function* () {
        const privateKey = yield* Effect.promise(() => generateKeyPairFromSeed("Ed25519", new Uint8Array(32).fill(1)))
        const key = keyOf(privateKey)
        const values = yield* Effect.promise(() =>
          Promise.all(
            specs.map(({ sequence, expiresIn }) =>
              createIpnsRecordWithExpiration(privateKey, PATH, sequence, new Date(Date.UTC(2040, 0, 1 + expiresIn)))
            )
          )
        )
        const index = yield* selectRecord(ipnsValidator, key, values)
        expect(index).toBe(referenceSelector(key, values))
      }),
    { fastCheck: { numRuns: 60 } }
  )
})

describe("ipnsValidator rejects", () => {
  it.effect("expired records, and accepts them up to the last millisecond of their validity", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const expiration = new Date("2030-06-01T12:00:00.000Z")
      const bytes = yield* Effect.promise(() => createIpnsRecordWithExpiration(privateKey, PATH, 1n, expiration))
      let now = expiration.getTime() - HOUR
      const clocked = makeIpnsValidator({ now: () => now })
      yield* ours(clocked, key, bytes)
      now = expiration.getTime()
      yield* ours(clocked, key, bytes)
      now = expiration.getTime() + 1
      const error = yield* oursRejects(key, bytes, clocked)
      expect(error).toBeInstanceOf(InvalidRecordError)
      expect(error.reason).toBe("record expired")

      const past = yield* Effect.promise(() =>
        createIpnsRecordWithExpiration(privateKey, PATH, 1n, new Date(Date.now() - 1000))
      )
      expect((yield* oursRejects(key, past)).reason).toBe("record expired")
      yield* referenceRejects(key, past)
    })
  )

  it.effect("expired records from the reference implementation, with nanosecond precision", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const created = yield* Effect.promise(() =>
        createIPNSRecordWithExpiration(privateKey, PATH, 1n, "2020-01-01T00:00:00.000000001Z")
      )
      const bytes = marshalIPNSRecord(created)
      expect((yield* oursRejects(key, bytes)).reason).toBe("record expired")
      const record = Either.getOrThrow(decodeIpnsRecord(key, bytes))
      expect(record.validUntilNanos).toBe(BigInt(Date.UTC(2020, 0, 1)) * 1_000_000n + 1n)
    })
  )

  it.effect("records signed by another key than the name's", () =>
    Effect.gen(function* () {
      const [owner, other] = yield* Effect.all([ed25519, ed25519])
      const rsa = yield* Effect.promise(() => generateKeyPair("RSA", 2048))
      // An inlined-key signer is checked against the owner's key from the name;
      // an embedded RSA key is compared with the name before any signature check.
      const cases: Array<[PrivateKey, string]> = [
        [other, "signatureV2 does not verify"],
        [rsa, "the signing public key does not match the name"]
      ]
      for (const [signer, reason] of cases) {
        const bytes = yield* Effect.promise(() => createIpnsRecord(signer, PATH, 1n, HOUR))
        expect((yield* oursRejects(keyOf(owner), bytes)).reason).toBe(reason)
        yield* referenceRejects(keyOf(owner), bytes)
      }
    })
  )

  it.effect("records signed by the name's key but carrying someone else's pubKey", () =>
    Effect.gen(function* () {
      const [owner, other] = yield* Effect.all([ed25519, ed25519])
      const signed = IpnsEntry.decode(yield* Effect.promise(() => createIpnsRecord(owner, PATH, 1n, HOUR)))
      const bytes = IpnsEntry.encode({
        ...signed,
        pubKey: publicKeyToProtobuf(other.publicKey) as Uint8Array<ArrayBuffer>
      })
      expect((yield* oursRejects(keyOf(owner), bytes)).reason).toBe("the signing public key does not match the name")
    })
  )

  it.effect("RSA names whose records do not carry the public key", () =>
    Effect.gen(function* () {
      const rsa = yield* Effect.promise(() => generateKeyPair("RSA", 2048))
      const signed = IpnsEntry.decode(yield* Effect.promise(() => createIpnsRecord(rsa, PATH, 1n, HOUR)))
      expect(signed.pubKey).toBeDefined()
      const bytes = IpnsEntry.encode({ signatureV2: signed.signatureV2, data: signed.data })
      const error = yield* oursRejects(keyOf(rsa), bytes)
      expect(error.reason).toBe("record has no pubKey and the name does not inline its public key")
    })
  )

  it.effect("tampered data and tampered signatures", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const signed = IpnsEntry.decode(yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR)))
      const decoded = cborg.decode(signed.data!) as Record<string, unknown>
      const forgedData = cborg.encode({ ...decoded, Value: text.encode("/ipfs/bafkqaaa") })
      const forged = IpnsEntry.encode({ ...signed, data: forgedData as Uint8Array<ArrayBuffer> })
      expect((yield* oursRejects(key, forged)).reason).toBe("signatureV2 does not verify")
      yield* referenceRejects(key, forged)

      for (const index of [0, 31, 63]) {
        const signature = Uint8Array.from(signed.signatureV2!)
        signature[index] ^= 0x01
        const bytes = IpnsEntry.encode({ ...signed, signatureV2: signature })
        expect((yield* oursRejects(key, bytes)).reason).toBe("signatureV2 does not verify")
        yield* referenceRejects(key, bytes)
      }
    })
  )

  it.effect("V1 fields that disagree with the signed data", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const created = yield* Effect.promise(() => createIPNSRecord(privateKey, PATH, 5n, HOUR, { v1Compatible: true }))
      const entry = IpnsEntry.decode(marshalIPNSRecord(created))
      const cases: Array<[Partial<IpnsEntry>, string]> = [
        [{ value: text.encode("/ipfs/bafkqaaa") }, "V1 value does not match data[Value]"],
        [{ validity: text.encode("2999-01-01T00:00:00Z") }, "V1 validity does not match data[Validity]"],
        [{ sequence: 6n }, "V1 sequence does not match data[Sequence]"],
        [{ ttl: 1n }, "V1 ttl does not match data[TTL]"]
      ]
      for (const [change, reason] of cases) {
        const bytes = IpnsEntry.encode({ ...entry, ...change })
        expect((yield* oursRejects(key, bytes)).reason).toBe(reason)
      }
      yield* ours(ipnsValidator, key, IpnsEntry.encode(entry))
    })
  )

  it.effect("records over 10 KiB, and accepts one of exactly 10 KiB", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR))
      yield* ours(ipnsValidator, key, padTo(bytes, MAX_IPNS_RECORD_SIZE))
      const error = yield* oursRejects(key, padTo(bytes, MAX_IPNS_RECORD_SIZE + 1))
      expect(error.reason).toMatch(/^record too large/)
      yield* referenceRejects(key, padTo(bytes, MAX_IPNS_RECORD_SIZE + 1))
    })
  )

  it.effect("records missing the V2 signature or data, or with malformed data", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const signed = IpnsEntry.decode(yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR)))
      expect((yield* oursRejects(key, IpnsEntry.encode({ data: signed.data }))).reason).toBe(
        "record has no signatureV2"
      )
      expect((yield* oursRejects(key, IpnsEntry.encode({ signatureV2: signed.signatureV2 }))).reason).toBe(
        "record has no data"
      )
      expect((yield* oursRejects(key, new Uint8Array([0xff, 0xff, 0xff]))).reason).toMatch(/^not an IPNS record/)

      const malformed: Array<[Uint8Array, RegExp]> = [
        [text.encode("not cbor at all"), /^data is not DAG-CBOR|^data is not a CBOR map/],
        [cborg.encode([1, 2, 3]), /^data is not a CBOR map/],
        [cborData({ ValidityType: 1 }), /^unsupported validity type 1/],
        [cborData({ Validity: text.encode("tomorrow") }), /^data\[Validity\] is not an RFC 3339 time/],
        [cborData({ Validity: text.encode("2030-02-30T00:00:00Z") }), /^data\[Validity\] is not an RFC 3339 time/],
        [cborData({ Value: PATH }), /^data\[Value\] is missing or not bytes/],
        [cborData({ Sequence: -1 }), /^data\[Sequence\]/],
        [cborData({}, ["TTL"]), /^data\[TTL\]/],
        [cborData({}, ["Value"]), /^data\[Value\]/]
      ]
      for (const [data, reason] of malformed) {
        const bytes = yield* signData(privateKey, data)
        expect((yield* oursRejects(key, bytes)).reason).toMatch(reason)
      }
    })
  )

  it.effect("keys outside /ipns/ and names that are not multihashes", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR))
      const multihash = peerIdFromPrivateKey(privateKey).toMultihash().bytes
      const wrong = new Uint8Array([...text.encode("/ipfs/"), ...multihash])
      expect((yield* oursRejects(wrong, bytes)).reason).toContain("/ipns/")
      const truncated = keyOf(privateKey).subarray(0, IPNS_PREFIX.byteLength + 5)
      expect((yield* oursRejects(truncated, bytes)).reason).toBe("the name is not a multihash")
    })
  )
})

describe("ipnsValidator accepts", () => {
  it.effect("RFC 3339 validities with offsets and any number of fractional digits", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const cases: Array<[string, bigint]> = [
        ["2030-01-01T02:00:00.5+02:00", BigInt(Date.UTC(2030, 0, 1)) * 1_000_000n + 500_000_000n],
        ["2029-12-31T19:30:00-04:30", BigInt(Date.UTC(2030, 0, 1)) * 1_000_000n],
        ["2030-01-01t00:00:00.123456789123z", BigInt(Date.UTC(2030, 0, 1)) * 1_000_000n + 123_456_789n]
      ]
      for (const [validity, nanos] of cases) {
        const bytes = yield* signData(privateKey, cborData({ Validity: text.encode(validity) }))
        yield* ours(ipnsValidator, key, bytes)
        expect(Either.getOrThrow(decodeIpnsRecord(key, bytes)).validUntilNanos).toBe(nanos)
      }
    })
  )

  it.effect("unknown extra fields in the signed data, including CID links", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const cid = CID.parse(PATH.slice("/ipfs/".length))
      // DAG-CBOR writes a CID as tag 42 around its bytes with a leading zero.
      const data = cborg.encode(
        { ...cborg.decode(cborData({})), _extra: { note: "hello", link: cid } },
        {
          typeEncoders: {
            Object: (obj: unknown) =>
              obj instanceof CID
                ? [
                    new cborg.Token(cborg.Type.tag, 42),
                    new cborg.Token(cborg.Type.bytes, new Uint8Array([0, ...obj.bytes]))
                  ]
                : null
          }
        }
      )
      yield* ours(ipnsValidator, key, yield* signData(privateKey, data))
      const broken = cborg.encode(
        { ...cborg.decode(cborData({})), _extra: 1 },
        {
          typeEncoders: {
            number: () => [
              new cborg.Token(cborg.Type.tag, 42),
              new cborg.Token(cborg.Type.bytes, new Uint8Array([1, 2]))
            ]
          }
        }
      )
      expect((yield* oursRejects(key, yield* signData(privateKey, broken))).reason).toMatch(/^data is not DAG-CBOR/)
    })
  )
})

describe("ipnsValidator.select", () => {
  it.effect("prefers the highest sequence, then the later validity, then the first index", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const make = (sequence: bigint, day: number) =>
        Effect.promise(() =>
          createIpnsRecordWithExpiration(privateKey, PATH, sequence, new Date(Date.UTC(2040, 0, day)))
        )
      const [s1d9, s2d1, s2d5, s2d5b] = yield* Effect.all([make(1n, 9), make(2n, 1), make(2n, 5), make(2n, 5)])
      expect(yield* selectRecord(ipnsValidator, key, [s1d9, s2d1])).toBe(1)
      expect(yield* selectRecord(ipnsValidator, key, [s2d1, s1d9])).toBe(0)
      expect(yield* selectRecord(ipnsValidator, key, [s2d1, s2d5, s1d9])).toBe(1)
      expect(yield* selectRecord(ipnsValidator, key, [s1d9, s2d5, s2d5b])).toBe(1)
      expect(yield* selectRecord(ipnsValidator, key, [s1d9, s2d5b, s2d5])).toBe(1)
    })
  )

  it.effect("passes over values that do not decode, and fails when none does", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const key = keyOf(privateKey)
      const good = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 0n, HOUR))
      const junk = new Uint8Array([1, 2, 3])
      expect(yield* selectRecord(ipnsValidator, key, [junk, good, junk])).toBe(1)
      const error = yield* Effect.flip(selectRecord(ipnsValidator, key, [junk, junk]))
      expect(error.reason).toBe("none of the values is an IPNS record")
    })
  )
})

describe("defaultValidator", () => {
  it.effect("routes /ipns/ and /pk/ keys and refuses other namespaces", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const validator = defaultValidator()
      expect(validator.namespaces().sort()).toEqual(["ipns", "pk"])
      expect(validator.getValidator("ipns")).toBe(ipnsValidator)
      const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR))
      yield* ours(validator, keyOf(privateKey), bytes)
      const past = yield* Effect.promise(() =>
        createIpnsRecordWithExpiration(privateKey, PATH, 1n, new Date(Date.now() - 1))
      )
      expect((yield* oursRejects(keyOf(privateKey), past, validator)).reason).toBe("record expired")
      const unknown = yield* oursRejects(text.encode("/myapp/x"), bytes, validator)
      expect(unknown.reason).toBe("no validator for namespace 'myapp'")
    })
  )

  it.effect("an application's NamespacedValidator keeps the /pk and /ipns defaults unless it replaces them", () =>
    Effect.gen(function* () {
      const privateKey = yield* ed25519
      const bytes = yield* Effect.promise(() => createIpnsRecord(privateKey, PATH, 1n, HOUR))
      const refuseAll: Validator = {
        validate: () => {
          throw new Error("refused by the application")
        },
        select: () => 0
      }
      const app = new NamespacedValidator({ myapp: refuseAll })
      const combined = withDefaultNamespaces(app)
      // /ipns/ still validated by the default, /myapp/ by the application
      yield* ours(combined, keyOf(privateKey), bytes)
      yield* oursRejects(text.encode("/myapp/x"), bytes, combined)
      // a namespace registered later is routed to the application too
      app.addValidator("later", refuseAll)
      yield* oursRejects(text.encode("/later/x"), bytes, combined)
      expect((yield* oursRejects(text.encode("/none/x"), bytes, combined)).reason).toBe(
        "no validator for namespace 'none'"
      )
      // registering ipns replaces the default
      app.addValidator("ipns", refuseAll)
      yield* oursRejects(keyOf(privateKey), bytes, combined)
      // a validator that is not namespaced routes everything itself
      expect(withDefaultNamespaces(refuseAll)).toBe(refuseAll)
    })
  )

  it("returns independent instances", () => {
    const a = defaultValidator()
    const b = defaultValidator()
    a.addValidator("myapp", ipnsValidator)
    expect(b.getValidator("myapp")).toBeUndefined()
  })
})
