import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey, peerIdFromString } from "@libp2p/peer-id"
import { FastCheck as fc } from "effect"
import {
  asKadId,
  commonPrefixLength,
  compareBytes,
  compareDistance,
  KAD_ID_BYTES,
  KEYSPACE_BITS,
  kadIdEquals,
  kadIdOfKey,
  kadIdOfPeer,
  kadIdToHex,
  normalizedDistance,
  randomKadIdWithPrefix,
  xorDistance
} from "../src/kad/key.js"

// BigInt is the slow, obviously-correct reference the fast byte loops are checked against.
const toBig = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`)
const refDistance = (a: Uint8Array, b: Uint8Array): bigint => toBig(a) ^ toBig(b)
const sign = (n: number | bigint): number => (n > 0 ? 1 : n < 0 ? -1 : 0)
const bits = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(2).padStart(8, "0")).join("")
const refCommonPrefix = (a: Uint8Array, b: Uint8Array): number => {
  const x = bits(a)
  const y = bits(b)
  let i = 0
  while (i < x.length && x[i] === y[i]) i++
  return i
}

const kadId = fc.uint8Array({ minLength: KAD_ID_BYTES, maxLength: KAD_ID_BYTES })

/** `base` with its first `shared` bits copied into `other`: exercises long common prefixes that uniform IDs never hit. */
const withSharedPrefix = (base: Uint8Array, other: Uint8Array, shared: number): Uint8Array => {
  const out = Uint8Array.from(other)
  const full = shared >>> 3
  out.set(base.subarray(0, full))
  const rest = shared & 7
  if (rest > 0 && full < KAD_ID_BYTES) {
    const mask = (0xff00 >>> rest) & 0xff
    out[full] = (base[full] & mask) | (other[full] & ~mask & 0xff)
  }
  return out
}

/** A pair of IDs sharing a random number of leading bits (0..256, so equal IDs occur too). */
const nearPair = fc
  .tuple(kadId, kadId, fc.integer({ min: 0, max: KEYSPACE_BITS }))
  .map(([a, b, shared]) => [a, withSharedPrefix(a, b, shared)] as const)

/** Three IDs, the second and third each near the first. */
const nearTriple = fc
  .tuple(kadId, kadId, kadId, fc.integer({ min: 0, max: KEYSPACE_BITS }), fc.integer({ min: 0, max: KEYSPACE_BITS }))
  .map(([a, b, c, sb, sc]) => [a, withSharedPrefix(a, b, sb), withSharedPrefix(a, c, sc)] as const)

const isZero = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0)

describe("XOR distance is a metric", () => {
  it.prop("d(a, a) = 0", [kadId], ([a]) => {
    expect(isZero(xorDistance(a, a))).toBe(true)
  })

  it.prop("d(a, b) = d(b, a)", [nearPair], ([[a, b]]) => {
    expect(xorDistance(a, b)).toEqual(xorDistance(b, a))
  })

  it.prop("d(a, b) = 0 iff a = b", [nearPair], ([[a, b]]) => {
    expect(isZero(xorDistance(a, b))).toBe(kadIdEquals(a, b))
    expect(kadIdEquals(a, b)).toBe(toBig(a) === toBig(b))
  })

  it.prop("matches the BigInt XOR", [nearPair], ([[a, b]]) => {
    expect(toBig(xorDistance(a, b))).toBe(refDistance(a, b))
  })

  it.prop(
    "unidirectional: from a, each distance d is reached by exactly one point, a xor d",
    [kadId, kadId],
    ([a, d]) => {
      const b = xorDistance(a, d)
      expect(xorDistance(a, b)).toEqual(d)
    }
  )

  it.prop("distinct points are at distinct distances from a", [nearTriple], ([[a, b, c]]) => {
    expect(kadIdEquals(xorDistance(a, b), xorDistance(a, c))).toBe(kadIdEquals(b, c))
  })

  it.prop("d(a, b) xor d(b, c) = d(a, c)", [nearTriple], ([[a, b, c]]) => {
    expect(xorDistance(xorDistance(a, b), xorDistance(b, c))).toEqual(xorDistance(a, c))
  })

  it.prop("triangle inequality: d(a, c) <= d(a, b) + d(b, c)", [nearTriple], ([[a, b, c]]) => {
    expect(refDistance(a, c) <= refDistance(a, b) + refDistance(b, c)).toBe(true)
  })
})

describe("ordering", () => {
  it.prop("compareDistance agrees with BigInt ordering of the distances", [nearTriple], ([[target, a, b]]) => {
    const expected = sign(refDistance(a, target) - refDistance(b, target))
    expect(sign(compareDistance(a, b, target))).toBe(expected)
    // `0 - x` rather than `-x`: equal distances must compare as +0, and -0 is not +0 to `toBe`
    expect(sign(compareDistance(b, a, target))).toBe(0 - expected)
  })

  it.prop("compareBytes of distances agrees with BigInt ordering", [nearTriple], ([[target, a, b]]) => {
    const da = xorDistance(a, target)
    const db = xorDistance(b, target)
    expect(sign(compareBytes(da, db))).toBe(sign(toBig(da) - toBig(db)))
    expect(sign(compareBytes(da, db))).toBe(sign(compareDistance(a, b, target)))
  })

  it.prop(
    "compareBytes is lexicographic for unequal lengths",
    [fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 })],
    ([a, b]) => {
      const reference = sign(Buffer.compare(Buffer.from(a), Buffer.from(b)))
      expect(sign(compareBytes(a, b))).toBe(reference)
    }
  )

  it.prop(
    "sorting IDs by compareDistance gives the BigInt order",
    [kadId, fc.array(kadId, { minLength: 2, maxLength: 40 })],
    ([target, ids]) => {
      const fast = [...ids].sort((a, b) => compareDistance(a, b, target)).map(kadIdToHex)
      const slow = [...ids].sort((a, b) => sign(refDistance(a, target) - refDistance(b, target))).map(kadIdToHex)
      expect(fast).toEqual(slow)
    }
  )
})

describe("commonPrefixLength", () => {
  it.prop("agrees with the bit-string reference", [nearPair], ([[a, b]]) => {
    expect(commonPrefixLength(a, b)).toBe(refCommonPrefix(a, b))
  })

  it.prop("agrees with 256 - bitLength(d(a, b))", [nearPair], ([[a, b]]) => {
    const d = refDistance(a, b)
    const bitLength = d === 0n ? 0 : d.toString(2).length
    expect(commonPrefixLength(a, b)).toBe(KEYSPACE_BITS - bitLength)
  })

  it("is 256 for equal IDs and 0 when the first bit differs", () => {
    const a = new Uint8Array(32).fill(0x5a)
    expect(commonPrefixLength(a, Uint8Array.from(a))).toBe(256)
    const b = Uint8Array.from(a)
    b[0] ^= 0x80
    expect(commonPrefixLength(a, b)).toBe(0)
    const c = Uint8Array.from(a)
    c[31] ^= 0x01
    expect(commonPrefixLength(a, c)).toBe(255)
  })
})

describe("randomKadIdWithPrefix", () => {
  it("shares exactly cpl leading bits with the base, for every cpl in 0..255", () => {
    const bases = [new Uint8Array(32), new Uint8Array(32).fill(0xff), ...fc.sample(kadId, { numRuns: 6, seed: 42 })]
    for (const base of bases) {
      for (let cpl = 0; cpl < KEYSPACE_BITS; cpl++) {
        const id = randomKadIdWithPrefix(base, cpl)
        expect(id.byteLength).toBe(KAD_ID_BYTES)
        expect(commonPrefixLength(id, base)).toBe(cpl)
        expect(refCommonPrefix(id, base)).toBe(cpl)
      }
    }
  })

  it.prop("random base and cpl", [kadId, fc.integer({ min: 0, max: KEYSPACE_BITS - 1 })], ([base, cpl]) => {
    expect(commonPrefixLength(randomKadIdWithPrefix(base, cpl), base)).toBe(cpl)
  })

  it("randomises the bits after the flipped one", () => {
    const base = new Uint8Array(32)
    // 155 random bits each: two equal draws would mean the tail is not random
    const draws = new Set(Array.from({ length: 16 }, () => kadIdToHex(randomKadIdWithPrefix(base, 100))))
    expect(draws.size).toBe(16)
    // every tail bit position takes both values over the draws
    const ids = Array.from({ length: 64 }, () => bits(randomKadIdWithPrefix(base, 200)))
    for (let bit = 201; bit < KEYSPACE_BITS; bit++) {
      expect(new Set(ids.map((s) => s[bit])).size).toBe(2)
    }
  })

  it("refuses cpl outside 0..255 or not an integer", () => {
    const base = new Uint8Array(32)
    for (const cpl of [-1, 256, 1000, 1.5, Number.NaN]) {
      expect(() => randomKadIdWithPrefix(base, cpl)).toThrow(RangeError)
    }
  })
})

describe("Kad IDs of keys and peers", () => {
  const nodeSha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())

  it.prop("kadIdOfKey is sha256 of the key", [fc.uint8Array({ maxLength: 300 })], ([key]) => {
    expect(kadIdOfKey(key)).toEqual(nodeSha256(key))
  })

  it("kadIdOfPeer is sha256 of the peer's multihash bytes (Ed25519, secp256k1, RSA)", async () => {
    const peers = [
      peerIdFromPrivateKey(await generateKeyPair("Ed25519")),
      peerIdFromPrivateKey(await generateKeyPair("secp256k1")),
      // an RSA peer ID is a sha256 multihash of the key rather than an identity multihash
      peerIdFromString("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    ]
    for (const peer of peers) {
      const expected = nodeSha256(peer.toMultihash().bytes)
      expect(kadIdOfPeer(peer)).toEqual(expected)
      // and never of the string form or the bare digest
      expect(kadIdOfPeer(peer)).not.toEqual(nodeSha256(new TextEncoder().encode(peer.toString())))
      expect(kadIdOfPeer(peer)).not.toEqual(nodeSha256(peer.toMultihash().digest))
    }
  })

  it("asKadId accepts 32 bytes only", () => {
    expect(asKadId(new Uint8Array(32)).byteLength).toBe(32)
    expect(() => asKadId(new Uint8Array(31))).toThrow(RangeError)
    expect(() => asKadId(new Uint8Array(33))).toThrow(RangeError)
  })

  it.prop("kadIdToHex is the lowercase hex of the bytes", [kadId], ([id]) => {
    expect(kadIdToHex(id)).toBe(Buffer.from(id).toString("hex"))
  })
})

describe("normalizedDistance", () => {
  it.prop("lies in [0, 1) and is the leading 53 bits of the distance", [nearPair], ([[a, b]]) => {
    const n = normalizedDistance(a, b)
    expect(n).toBeGreaterThanOrEqual(0)
    expect(n).toBeLessThan(1)
    expect(n).toBe(Number(refDistance(a, b) >> 203n) / 2 ** 53)
    expect(n === 0).toBe(refDistance(a, b) >> 203n === 0n)
  })

  it("stays below 1 at the largest distance", () => {
    const n = normalizedDistance(new Uint8Array(32), new Uint8Array(32).fill(0xff))
    expect(n).toBeLessThan(1)
    expect(n).toBe(1 - 2 ** -53)
  })

  it.prop("never contradicts compareDistance", [nearTriple], ([[target, a, b]]) => {
    const na = normalizedDistance(a, target)
    const nb = normalizedDistance(b, target)
    if (na < nb) expect(compareDistance(a, b, target)).toBeLessThan(0)
    if (na > nb) expect(compareDistance(a, b, target)).toBeGreaterThan(0)
  })
})
