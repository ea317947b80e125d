/**
 * Keyspace regions for providing many keys at once: instead of one lookup
 * per key, the sweep learns every peer of a region of the keyspace (a Kad ID
 * prefix holding at least `k` peers) with a few lookups, then hands each of
 * the region's keys to its `k` closest peers among them.
 *
 * Why this is exact: every peer sharing a prefix with a key is closer to it
 * (by XOR) than any peer outside the prefix, so when a prefix holds at least
 * `k` peers and all of them are known, a key's `k` closest peers are the `k`
 * closest of them. A lookup toward a target inside a prefix proves the
 * prefix fully known when one of its `k` closest results lies outside it:
 * everything inside is closer than that one, so it was returned too.
 *
 * @internal
 * @module
 */
import {
  commonPrefixLength,
  compareDistance,
  KAD_ID_BYTES,
  type KadId,
  kadIdOfKey,
  kadIdOfPeer,
  type PeerInfo
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import { addProviderMessage, type ProvideEnv } from "./optimistic.js"
import type { ProvidedKey, ProvidedKeys } from "./provided-keys.js"

/**
 * Deepest prefix a region exploration splits to. A prefix this deep holds
 * `k` peers only in a network of some 2^24 · k peers; the sampled lookup
 * key for it costs 2^24 hashes.
 */
export const MAX_REGION_DEPTH = 24

/** Lanes of ADD_PROVIDER sends running at once while announcing a region. */
const ANNOUNCE_CONCURRENCY = 64

/**
 * ADD_PROVIDER sends in flight to one peer. The libp2p network gives a
 * stream back to its pool after each one-way write and keeps up to
 * `maxIdleStreamsPerPeer` (4 by default) idle per peer: with no more lanes
 * than that, a lane's next key finds an idle stream, so a peer's keys share
 * a handful of streams; more lanes would open streams that the full pool
 * then closes. The in-memory network has no streams: there the lanes only
 * bound the sends in flight.
 */
const LANES_PER_PEER = 4

/** Hashes tried per slice while sampling a key into a prefix. */
const SAMPLE_SLICE = 4096

/** A fully known region of the keyspace. */
export interface Region {
  /** The region's prefix: the first `depth` bits of this Kad ID. */
  readonly prefix: Uint8Array
  readonly depth: number
  /** Every peer of the region (all peers when fewer than `k` answered at all). */
  readonly peers: ReadonlyArray<RegionPeer>
  /** Lookups it took to learn them. */
  readonly lookups: number
}

/** A region peer with its Kad ID, computed once. */
export interface RegionPeer {
  readonly info: PeerInfo
  readonly kadId: KadId
}

/** What announcing a region's keys did. */
export interface AnnounceOutcome {
  /** ADD_PROVIDER sent. */
  readonly messages: number
  /** Of those, delivered. */
  readonly delivered: number
  /**
   * ADD_PROVIDER due (one per key and peer) but not delivered: the send
   * failed, or it was skipped because an earlier send to that peer failed.
   */
  readonly undelivered: number
  /** Distinct peers sent to. */
  readonly peers: number
}

const bitOf = (id: Uint8Array, bit: number): number => (id[bit >>> 3] >>> (7 - (bit & 7))) & 1

/** `prefix`'s first `depth` bits followed by `bit`: the half of the prefix that bit chooses. */
const childPrefix = (prefix: Uint8Array, depth: number, bit: number): Uint8Array => {
  const out = new Uint8Array(KAD_ID_BYTES)
  const full = depth >>> 3
  out.set(prefix.subarray(0, full))
  if (full < KAD_ID_BYTES) {
    const rest = depth & 7
    out[full] = prefix[full] & ((0xff00 >>> rest) & 0xff)
    if (bit === 1) out[full] |= 0x80 >>> rest
  }
  return out
}

/**
 * The first Kad ID after every ID starting with `prefix`'s first `depth`
 * bits, or `undefined` when the prefix reaches the end of the keyspace.
 */
export const prefixEnd = (prefix: Uint8Array, depth: number): Uint8Array | undefined => {
  if (depth === 0) return undefined
  const out = childPrefix(prefix, depth - 1, bitOf(prefix, depth - 1))
  // add one at bit depth-1, carrying towards the front
  let bit = depth - 1
  while (bit >= 0) {
    const byte = bit >>> 3
    const mask = 0x80 >>> (bit & 7)
    if ((out[byte] & mask) === 0) {
      out[byte] |= mask
      return out
    }
    out[byte] &= ~mask & 0xff
    bit--
  }
  return undefined
}

/** Whether `id` starts with the first `depth` bits of `prefix`. */
export const inPrefix = (id: Uint8Array, prefix: Uint8Array, depth: number): boolean =>
  depth === 0 || commonPrefixLength(id, prefix) >= depth

/**
 * Where a Kad ID lies in the keyspace, as a fraction in [0, 1) (its first
 * 48 bits): the share of the reprovide interval after which the sweep
 * reaches it.
 *
 * @example
 * ```ts
 * const due = cycleStart + reprovideInterval * keyspaceFraction(kadIdOfKey(cid.multihash.bytes))
 * ```
 */
export const keyspaceFraction = (id: Uint8Array): number =>
  (id[0] * 2 ** 40 + id[1] * 2 ** 32 + ((id[2] << 24) >>> 0) + (id[3] << 16) + (id[4] << 8) + id[5]) / 2 ** 48

/**
 * Random sha2-256 multihash key bytes whose Kad ID starts with `prefix`'s
 * first `depth` bits (about 2^depth hashes), searched in slices that yield
 * to other fibers.
 */
export const sampleKeyInPrefix = (prefix: Uint8Array, depth: number): Effect.Effect<Uint8Array> => {
  const key = new Uint8Array(2 + 32)
  key[0] = 0x12
  key[1] = 32
  const slice: Effect.Effect<Uint8Array> = Effect.suspend(() => {
    for (let i = 0; i < SAMPLE_SLICE; i++) {
      crypto.getRandomValues(key.subarray(2))
      if (inPrefix(kadIdOfKey(key), prefix, depth)) return Effect.succeed(key.slice())
    }
    return Effect.zipRight(Effect.yieldNow(), slice)
  })
  return slice
}

/**
 * Learns the region around `first`: one lookup toward it gives its `k`
 * closest peers, whose farthest fixes the region (the prefix those `k`
 * share with the key); the half of the region on the key's side is then
 * known, and the other half is explored until known. `known` collects every
 * peer the lookups answered with.
 */
export const exploreRegion = (env: ProvideEnv, keys: ProvidedKeys, first: ProvidedKey): Effect.Effect<Region> =>
  Effect.gen(function* () {
    const known = new Map<string, RegionPeer>()
    let lookups = 0
    const lookup = (key: Uint8Array) =>
      Effect.map(env.routing.getClosestPeers(key), (peers) => {
        lookups++
        const found: Array<RegionPeer> = []
        for (const info of peers) {
          const id = info.id.toString()
          let peer = known.get(id)
          if (peer === undefined) {
            peer = { info, kadId: kadIdOfPeer(info.id) }
            known.set(id, peer)
          }
          found.push(peer)
        }
        return found
      })

    // A provided key inside the prefix is a free lookup target; otherwise one is sampled.
    const targetIn = (prefix: Uint8Array, depth: number): Effect.Effect<Uint8Array> => {
      const at = keys.lowerBound(prefix)
      const sorted = keys.sorted()
      if (at < sorted.length && inPrefix(sorted[at].kadId, prefix, depth)) return Effect.succeed(sorted[at].key)
      return sampleKeyInPrefix(prefix, depth)
    }

    const explore = (prefix: Uint8Array, depth: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const found = yield* lookup(yield* targetIn(prefix, depth))
        if (found.length < env.k || depth >= MAX_REGION_DEPTH) return
        if (found.some((peer) => !inPrefix(peer.kadId, prefix, depth))) return
        // k peers or more inside: each half is explored on its own
        yield* explore(childPrefix(prefix, depth, 0), depth + 1)
        yield* explore(childPrefix(prefix, depth, 1), depth + 1)
      })

    const closest = yield* lookup(first.key)
    if (closest.length < env.k) {
      // Fewer than k answered. In a network that small every key goes to all
      // of them; but when the routing table knows more peers, the lookup
      // lost some, and the region shrinks to this one key rather than hand
      // a whole keyspace of keys to the few that answered.
      const table = yield* env.seeds(first.kadId)
      const depth = table.length > closest.length ? KAD_ID_BYTES * 8 : 0
      return { prefix: first.kadId, depth, peers: closest, lookups }
    }
    const depth = commonPrefixLength(first.kadId, closest[env.k - 1].kadId)
    if (depth < KAD_ID_BYTES * 8) {
      yield* explore(childPrefix(first.kadId, depth, 1 - bitOf(first.kadId, depth)), depth + 1)
    }
    const peers: Array<RegionPeer> = []
    for (const peer of known.values()) if (inPrefix(peer.kadId, first.kadId, depth)) peers.push(peer)
    return { prefix: first.kadId, depth, peers, lookups }
  })

/** The `k` peers of `region` closest to `kadId`. */
export const closestInRegion = (region: Region, kadId: Uint8Array, k: number): Array<RegionPeer> => {
  const sorted = [...region.peers].sort((a, b) => compareDistance(a.kadId, b.kadId, kadId))
  return sorted.length > k ? sorted.slice(0, k) : sorted
}

/**
 * Sends each of `entries` (keys of `region`) to its `k` closest region
 * peers, grouped by peer so that one peer's announcements follow each other
 * on the same (pooled) stream.
 */
export const announceRegion = (
  env: ProvideEnv,
  self: PeerInfo,
  region: Region,
  entries: ReadonlyArray<ProvidedKey>
): Effect.Effect<AnnounceOutcome> =>
  Effect.gen(function* () {
    const byPeer = new Map<string, { readonly id: PeerId; readonly keys: Array<Uint8Array> }>()
    for (const entry of entries) {
      for (const peer of closestInRegion(region, entry.kadId, env.k)) {
        const id = peer.info.id.toString()
        let batch = byPeer.get(id)
        if (batch === undefined) {
          batch = { id: peer.info.id, keys: [] }
          byPeer.set(id, batch)
        }
        batch.keys.push(entry.key)
      }
    }
    let messages = 0
    let delivered = 0
    let due = 0
    // Each peer gets its keys over a few lanes, one send at a time per lane,
    // so its keys share the few streams the pool keeps for it.
    const lanes: Array<{ readonly id: PeerId; readonly keys: ReadonlyArray<Uint8Array> }> = []
    for (const batch of byPeer.values()) {
      due += batch.keys.length
      const count = Math.min(LANES_PER_PEER, batch.keys.length)
      for (let lane = 0; lane < count; lane++) {
        lanes.push({ id: batch.id, keys: batch.keys.filter((_, i) => i % count === lane) })
      }
    }
    yield* Effect.forEach(
      lanes,
      (lane) =>
        Effect.gen(function* () {
          for (const key of lane.keys) {
            messages++
            const sent = yield* Effect.isSuccess(env.network.send(lane.id, addProviderMessage(key, self)))
            // a peer that failed is not made to time out once per remaining key
            if (!sent) return
            delivered++
          }
        }),
      { concurrency: ANNOUNCE_CONCURRENCY, discard: true }
    )
    return { messages, delivered, undelivered: due - delivered, peers: byPeer.size }
  })
