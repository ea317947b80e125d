import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair, generateKeyPairFromSeed, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PrivateKey } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, FastCheck as fc } from "effect"
import { InvalidRecordError } from "../src/errors.js"
import { defaultValidator } from "../src/record/default-validators.js"
import { PK_PREFIX, pkKey, publicKeyValidator } from "../src/record/public-key.js"
import { selectRecord, validateRecord } from "../src/record/validator.js"

const keyOf = (privateKey: PrivateKey) => pkKey(peerIdFromPrivateKey(privateKey))
const pkValue = (privateKey: PrivateKey) => publicKeyToProtobuf(privateKey.publicKey)

const rejection = (key: Uint8Array, value: Uint8Array) => Effect.flip(validateRecord(publicKeyValidator, key, value))

describe("pkKey", () => {
  it.effect("is /pk/ followed by the peer ID multihash", () =>
    Effect.gen(function* () {
      const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
      const peerId = peerIdFromPrivateKey(privateKey)
      const key = pkKey(peerId)
      expect(new TextDecoder().decode(key.subarray(0, 4))).toBe("/pk/")
      expect(key.subarray(PK_PREFIX.byteLength)).toEqual(peerId.toMultihash().bytes)
    })
  )
})

describe("publicKeyValidator", () => {
  it.effect("accepts each key type under the multihash its peer ID uses (identity or sha2-256)", () =>
    Effect.gen(function* () {
      const keys = yield* Effect.promise(() =>
        Promise.all([generateKeyPair("Ed25519"), generateKeyPair("secp256k1"), generateKeyPair("RSA", 2048)])
      )
      const codes = keys.map((k) => peerIdFromPrivateKey(k).toMultihash().code)
      // Ed25519 and secp256k1 are inlined, RSA is hashed: both derivations are exercised.
      expect(codes).toEqual([0x00, 0x00, 0x12])
      for (const privateKey of keys) {
        yield* validateRecord(publicKeyValidator, keyOf(privateKey), pkValue(privateKey))
      }
    })
  )

  it.effect("rejects another peer's public key", () =>
    Effect.gen(function* () {
      const [a, b] = yield* Effect.promise(() =>
        Promise.all([generateKeyPair("Ed25519"), generateKeyPair("RSA", 2048)])
      )
      const mismatch = yield* rejection(keyOf(a), pkValue(b))
      expect(mismatch).toBeInstanceOf(InvalidRecordError)
      expect(mismatch.reason).toBe("public key does not match the peer ID in the key")
      const reverse = yield* rejection(keyOf(b), pkValue(a))
      expect(reverse.reason).toBe("public key does not match the peer ID in the key")
    })
  )

  it.effect("rejects values that are not protobuf public keys", () =>
    Effect.gen(function* () {
      const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
      const key = keyOf(privateKey)
      for (const value of [new Uint8Array(0), new Uint8Array([1, 2, 3]), privateKey.publicKey.raw]) {
        const error = yield* rejection(key, value)
        expect(error.reason).toBe("value is not a protobuf-encoded public key")
      }
    })
  )

  it.effect("rejects keys outside /pk/ and keys with nothing after the prefix", () =>
    Effect.gen(function* () {
      const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
      const multihash = peerIdFromPrivateKey(privateKey).toMultihash().bytes
      const wrongNamespace = new Uint8Array([...new TextEncoder().encode("/pq/"), ...multihash])
      for (const key of [wrongNamespace, PK_PREFIX, multihash]) {
        const error = yield* rejection(key, pkValue(privateKey))
        expect(error.reason).toContain("/pk/")
      }
    })
  )

  it.effect.prop(
    "accepts the right key and rejects any single-byte change to the key's multihash",
    [fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(), fc.integer({ min: 1, max: 255 })],
    ([seed, position, flip]) =>
      Effect.gen(function* () {
        const privateKey = yield* Effect.promise(() => generateKeyPairFromSeed("Ed25519", seed))
        const key = keyOf(privateKey)
        yield* validateRecord(publicKeyValidator, key, pkValue(privateKey))
        const tampered = Uint8Array.from(key)
        const index = PK_PREFIX.byteLength + (position % (key.byteLength - PK_PREFIX.byteLength))
        tampered[index] ^= flip
        const error = yield* rejection(tampered, pkValue(privateKey))
        expect(error).toBeInstanceOf(InvalidRecordError)
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("select returns the first value: every valid value is the same key", () =>
    Effect.gen(function* () {
      const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
      const value = pkValue(privateKey)
      const index = yield* selectRecord(publicKeyValidator, keyOf(privateKey), [value, value, value])
      expect(index).toBe(0)
    })
  )

  it.effect("is what defaultValidator routes /pk/ keys to", () =>
    Effect.gen(function* () {
      const [a, b] = yield* Effect.promise(() => Promise.all([generateKeyPair("Ed25519"), generateKeyPair("Ed25519")]))
      const validator = defaultValidator()
      expect(validator.getValidator("pk")).toBe(publicKeyValidator)
      yield* validateRecord(validator, keyOf(a), pkValue(a))
      const error = yield* Effect.flip(validateRecord(validator, keyOf(a), pkValue(b)))
      expect(error.reason).toBe("public key does not match the peer ID in the key")
    })
  )
})
