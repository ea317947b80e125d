/**
 * Routing tables filled as a settled network would have them, without one
 * lookup per node: the way large simulated networks are built.
 *
 * In a network that has run for a while, periodic refreshes have looked up a
 * random key in every bucket of every node, so each bucket holds up to k
 * peers picked from among the servers whose IDs fall in it. Picking them
 * directly costs O(N · log N) instead of N lookups.
 *
 * @module
 */
import {
  compareBytes,
  type KadId,
  kadIdOfPeer,
  type PeerInfo,
  peerInfoFromWire,
  peerInfoToWire
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"

/** One bucket's worth of picked peers for one node. */
export interface BucketPick {
  /** Common prefix length of the bucket. */
  readonly cpl: number
  /** Indices into the `servers` array given to {@link pickBucketMembers}. */
  readonly members: ReadonlyArray<number>
}

/**
 * Compares the first `bits` bits of two Kad IDs, as unsigned big-endian
 * numbers.
 */
const comparePrefix = (a: Uint8Array, b: Uint8Array, bits: number): number => {
  const whole = bits >>> 3
  for (let i = 0; i < whole; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  const rest = bits & 7
  if (rest === 0) return 0
  const mask = (0xff << (8 - rest)) & 0xff
  return (a[whole] & mask) - (b[whole] & mask)
}

/** First index in `sorted` whose first `bits` bits are ≥ (or, with `strict`, >) those of `target`. */
const boundOf = (sorted: ReadonlyArray<KadId>, target: Uint8Array, bits: number, strict: boolean): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = comparePrefix(sorted[mid], target, bits)
    if (c < 0 || (strict && c === 0)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A small seeded generator (mulberry32): picks must not depend on the global random state. */
const seededUniform = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * bound)
  }
}

/** Up to `count` distinct indices from `[lo, hi)`, uniformly. */
const sample = (lo: number, hi: number, count: number, uniform: (bound: number) => number): Array<number> => {
  const size = hi - lo
  if (size <= count) return Array.from({ length: size }, (_, i) => lo + i)
  const picked = new Set<number>()
  while (picked.size < count) picked.add(lo + uniform(size))
  return [...picked]
}

/**
 * For the node with Kad ID `self`, picks up to `k` servers per bucket from
 * `servers`, whose Kad IDs `sorted` holds in ascending order (`order[i]` is
 * the index in the caller's server list of `sorted[i]`). The node itself is
 * never picked: it shares all 256 bits with itself, so it lies in no bucket.
 * `selfIsServer` says whether `sorted` holds the node.
 */
export const pickBucketMembers = (
  self: KadId,
  selfIsServer: boolean,
  sorted: ReadonlyArray<KadId>,
  order: ReadonlyArray<number>,
  k: number,
  seed: number
): Array<BucketPick> => {
  const uniform = seededUniform(seed)
  const picks: Array<BucketPick> = []
  const flipped = new Uint8Array(self)
  for (let cpl = 0; cpl < 256; cpl++) {
    // servers sharing at least `cpl` leading bits with us; once none but
    // ourselves are left, every deeper bucket is empty too
    const sharing = boundOf(sorted, self, cpl, true) - boundOf(sorted, self, cpl, false)
    if (sharing - (selfIsServer ? 1 : 0) <= 0) break
    // bucket `cpl`: the first `cpl` bits equal ours and the next one differs
    const byte = cpl >>> 3
    const bit = 0x80 >>> (cpl & 7)
    flipped[byte] ^= bit
    const lo = boundOf(sorted, flipped, cpl + 1, false)
    const hi = boundOf(sorted, flipped, cpl + 1, true)
    flipped[byte] ^= bit
    if (hi > lo) picks.push({ cpl, members: sample(lo, hi, k, uniform).map((i) => order[i]) })
  }
  return picks
}

/** Kad IDs of `servers` in ascending order, with each one's index in `servers`. */
export const sortServers = (
  servers: ReadonlyArray<PeerId>
): { readonly sorted: Array<KadId>; readonly order: Array<number> } => {
  const ids = servers.map(kadIdOfPeer)
  const order = ids.map((_, i) => i).sort((a, b) => compareBytes(ids[a], ids[b]))
  return { sorted: order.map((i) => ids[i]), order }
}

/**
 * A fresh copy of a peer, as a node would decode it from a response: each
 * simulated node holds its own peer IDs and addresses, as separate
 * processes would.
 */
export const copyAsReceived = (peer: PeerInfo): PeerInfo => peerInfoFromWire(peerInfoToWire(peer)) ?? peer
