/**
 * The latency model of the simulated benchmarks: every link has a fixed
 * one-way delay of 10 to 75 ms (round trips of 20 to 150 ms), the same both
 * ways, derived from the two peers so runs are comparable.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"

/** A 32-bit tag per peer, from the last bytes of its multihash (random key material). */
const tags = new WeakMap<PeerId, number>()
const tagOf = (id: PeerId): number => {
  let tag = tags.get(id)
  if (tag === undefined) {
    const bytes = id.toMultihash().bytes
    const n = bytes.length
    tag = (bytes[n - 1] | (bytes[n - 2] << 8) | (bytes[n - 3] << 16) | (bytes[n - 4] << 24)) >>> 0
    tags.set(id, tag)
  }
  return tag
}

/**
 * One-way delay of the link between `a` and `b`: a hash of the two peers'
 * tags, smallest first, mapped onto 10–75 ms.
 */
export const pairDelayMillis = (a: PeerId, b: PeerId): number => {
  const x = tagOf(a)
  const y = tagOf(b)
  let h = Math.imul(Math.min(x, y) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.max(x, y)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  h ^= h >>> 16
  return 10 + ((h >>> 0) % 66)
}
