/**
 * Kademlia keys: 32-byte sha256 digests compared by XOR distance.
 *
 * Everything here sits on the hot path of lookups and routing-table queries,
 * so it works on plain `Uint8Array`s, allocates only where a result must be
 * returned, and never uses BigInt.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { sha256 } from "@noble/hashes/sha2.js"

/** Length in bytes of a Kad ID (sha256 output). */
export const KAD_ID_BYTES = 32

/** Length in bits of the keyspace. */
export const KEYSPACE_BITS = KAD_ID_BYTES * 8

/** A point in the Kademlia keyspace: sha256 of a peer ID's bytes or of a record/provider key. */
export type KadId = Uint8Array & { readonly KadId: unique symbol }

/**
 * Hashes arbitrary key bytes into the keyspace.
 *
 * @example
 * ```ts
 * const id = kadIdOfKey(new TextEncoder().encode("/v/hello"))
 * ```
 */
export const kadIdOfKey = (key: Uint8Array): KadId => sha256(key) as KadId

/** The Kad ID of a peer: sha256 of its multihash bytes, as every libp2p DHT computes it. */
export const kadIdOfPeer = (peer: PeerId): KadId => sha256(peer.toMultihash().bytes) as KadId

/** Wraps 32 bytes that are already a Kad ID (for example a random bucket target). */
export const asKadId = (bytes: Uint8Array): KadId => {
  if (bytes.byteLength !== KAD_ID_BYTES) {
    throw new RangeError(`a Kad ID has ${KAD_ID_BYTES} bytes, got ${bytes.byteLength}`)
  }
  return bytes as KadId
}

/** XOR distance between two Kad IDs, as a new 32-byte array. */
export const xorDistance = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(KAD_ID_BYTES)
  for (let i = 0; i < KAD_ID_BYTES; i++) out[i] = a[i] ^ b[i]
  return out
}

/** Number of leading bits two Kad IDs share (256 when equal). */
export const commonPrefixLength = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < KAD_ID_BYTES; i++) {
    const x = a[i] ^ b[i]
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return KEYSPACE_BITS
}

/** Lexicographic comparison of two distances (or any equal-length byte strings): -1, 0 or 1. */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  }
  return a.byteLength === b.byteLength ? 0 : a.byteLength < b.byteLength ? -1 : 1
}

/**
 * Which of `a` and `b` is closer to `target`, without materialising either
 * distance: negative when `a` is closer, positive when `b` is, 0 when equal.
 */
export const compareDistance = (a: Uint8Array, b: Uint8Array, target: Uint8Array): number => {
  for (let i = 0; i < KAD_ID_BYTES; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

/** Byte equality of two Kad IDs. */
export const kadIdEquals = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * A random Kad ID sharing exactly `cpl` leading bits with `base`: the target a
 * refresh looks up to fill bucket `cpl`.
 */
export const randomKadIdWithPrefix = (base: Uint8Array, cpl: number): KadId => {
  if (!Number.isInteger(cpl) || cpl < 0 || cpl >= KEYSPACE_BITS) {
    throw new RangeError(`common prefix length must be an integer in [0, 255], got ${cpl}`)
  }
  const out = new Uint8Array(KAD_ID_BYTES)
  crypto.getRandomValues(out)
  const fullBytes = cpl >>> 3
  for (let i = 0; i < fullBytes; i++) out[i] = base[i]
  const bit = cpl & 7
  // keep the first `bit` bits of base, flip bit number `bit`, keep random tail bits
  const keepMask = (0xff00 >>> bit) & 0xff
  const flipBit = 0x80 >>> bit
  const tailMask = (flipBit - 1) & 0xff
  out[fullBytes] = (base[fullBytes] & keepMask) | (~base[fullBytes] & flipBit) | (out[fullBytes] & tailMask)
  return out as KadId
}

/**
 * Normalised distance in [0, 1): the leading 53 bits of the XOR distance read
 * as a fraction of the keyspace. Used by the network size estimator.
 *
 * Only 53 bits are read because that is what a double holds exactly; summing
 * more (say 64 bits) rounds the largest distances up to exactly 1.
 */
export const normalizedDistance = (a: Uint8Array, b: Uint8Array): number => {
  const high = (((a[0] ^ b[0]) << 24) | ((a[1] ^ b[1]) << 16) | ((a[2] ^ b[2]) << 8) | (a[3] ^ b[3])) >>> 0
  const low = ((a[4] ^ b[4]) << 13) | ((a[5] ^ b[5]) << 5) | ((a[6] ^ b[6]) >>> 3)
  return (high * TWO_POW_21 + low) / TWO_POW_53
}

const TWO_POW_21 = 2 ** 21
const TWO_POW_53 = 2 ** 53

/** Hex form of a Kad ID, for logs and map keys. */
export const kadIdToHex = (id: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < id.byteLength; i++) s += HEX[id[i]]
  return s
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
