import { describe, expect, it } from "@effect/vitest"
import { commonPrefixLength, compareDistance, KAD_ID_BYTES, KEYSPACE_BITS, kadIdOfPeer } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Effect, FastCheck as fc, Option, TestClock } from "effect"
import { ipGroupsOf, type PeerEntry, RoutingTable, type RoutingTableShape } from "../src/index.js"

// Generating keys is the slow part, so one pool serves every property run.
const POOL_SIZE = 2000
const pool: ReadonlyArray<PeerId> = await Promise.all(
  Array.from({ length: POOL_SIZE }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
)
const poolKad = pool.map(kadIdOfPeer)
const self = pool[POOL_SIZE - 1]
const selfKad = poolKad[POOL_SIZE - 1]

const GRACE = 30_000

/** `other` with its first `shared` bits replaced by those of `base`: keys near `base`, which uniform keys never produce. */
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

const keyArb = fc
  .tuple(
    fc.uint8Array({ minLength: KAD_ID_BYTES, maxLength: KAD_ID_BYTES }),
    fc.integer({ min: 0, max: KEYSPACE_BITS })
  )
  .map(([random, shared]) => withSharedPrefix(selfKad, random, shared))

/** Checks the structural invariants of a table against its own listing. */
const checkInvariants = (table: RoutingTableShape, k: number, maxSize: number, diversity: boolean) =>
  Effect.gen(function* () {
    const peers = yield* table.listPeers
    const size = yield* table.size
    expect(size).toBe(peers.length)
    expect(size).toBeLessThanOrEqual(maxSize)
    expect(new Set(peers.map((p) => p.id.toString())).size).toBe(peers.length)
    const perBucket = new Map<number, number>()
    for (const entry of peers) {
      expect(entry.cpl).toBe(commonPrefixLength(selfKad, kadIdOfPeer(entry.id)))
      expect(entry.id.equals(self)).toBe(false)
      perBucket.set(entry.cpl, (perBucket.get(entry.cpl) ?? 0) + 1)
    }
    const buckets = yield* table.buckets
    expect(buckets.length).toBe(yield* table.bucketCount)
    expect(buckets.reduce((n, b) => n + b.size, 0)).toBe(size)
    for (const bucket of buckets) {
      expect(bucket.size).toBeLessThanOrEqual(k)
      expect(bucket.size).toBe(perBucket.get(bucket.cpl) ?? 0)
    }
    if (diversity) checkDiversity(peers, 2, 3)
  })

const checkDiversity = (peers: ReadonlyArray<PeerEntry>, perBucketLimit: number, perTableLimit: number): void => {
  const table = new Map<string, number>()
  const buckets = new Map<string, number>()
  for (const entry of peers) {
    for (const group of ipGroupsOf(entry.multiaddrs)) {
      table.set(group, (table.get(group) ?? 0) + 1)
      const key = `${entry.cpl}/${group}`
      buckets.set(key, (buckets.get(key) ?? 0) + 1)
    }
  }
  for (const n of table.values()) expect(n).toBeLessThanOrEqual(perTableLimit)
  for (const n of buckets.values()) expect(n).toBeLessThanOrEqual(perBucketLimit)
}

const bruteForceNearest = (peers: ReadonlyArray<PeerEntry>, key: Uint8Array, count: number): Array<string> =>
  [...peers]
    .sort((a, b) => compareDistance(a.kadId, b.kadId, key))
    .slice(0, count)
    .map((e) => e.id.toString())

/** Peers of a small sub-pool, so that adds, removes and evictions keep hitting the same buckets. */
const ACTIVE = 200
const peerIndex = fc.nat(ACTIVE - 1)
const isDead = (i: number): boolean => i % 3 === 0
/** Addresses drawn from eight /16 networks, so the diversity limits bite. */
const addressOf = (i: number, network: number) => multiaddr(`/ip4/10.${network}.${i & 255}.1/tcp/4001`)

type Op =
  | {
      readonly _tag: "add"
      readonly peer: number
      readonly network: number
      readonly query: boolean
      readonly replaceable: boolean
    }
  | { readonly _tag: "remove"; readonly peer: number }
  | { readonly _tag: "useful"; readonly peer: number }
  | { readonly _tag: "advance"; readonly millis: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("add" as const),
      peer: peerIndex,
      network: fc.nat(7),
      query: fc.boolean(),
      replaceable: fc.boolean()
    })
  },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("remove" as const), peer: peerIndex }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("useful" as const), peer: peerIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: 2 * GRACE }) })
  }
)

describe("RoutingTable properties", () => {
  it.scoped.prop(
    "bucket invariants hold after any sequence of operations",
    {
      k: fc.integer({ min: 1, max: 6 }),
      maxSize: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 1, max: 40 })),
      diversity: fc.boolean(),
      ops: fc.array(opArb, { minLength: 1, maxLength: 120 })
    },
    ({ k, maxSize, diversity, ops }) =>
      Effect.gen(function* () {
        const table = yield* RoutingTable.make({
          self,
          bucketSize: k,
          maxRoutingTableSize: maxSize,
          usefulnessGracePeriodMillis: GRACE,
          diversity: { enabled: diversity },
          isAlive: (peer) => Effect.succeed(!isDead(pool.findIndex((p) => p.equals(peer))))
        })
        for (const op of ops) {
          switch (op._tag) {
            case "add": {
              const peer = pool[op.peer]
              const wasPresent = Option.isSome(yield* table.find(peer))
              const added = yield* table.tryAdd(
                { id: peer, multiaddrs: [addressOf(op.peer, op.network)] },
                { queryPeer: op.query, isReplaceable: op.replaceable }
              )
              if (added) expect(wasPresent).toBe(false)
              if (added || wasPresent) expect(Option.isSome(yield* table.find(peer))).toBe(true)
              break
            }
            case "remove": {
              const peer = pool[op.peer]
              const wasPresent = Option.isSome(yield* table.find(peer))
              expect(yield* table.remove(peer)).toBe(wasPresent)
              expect(Option.isNone(yield* table.find(peer))).toBe(true)
              break
            }
            case "useful":
              yield* table.markUseful(pool[op.peer])
              break
            case "advance":
              yield* TestClock.adjust(op.millis)
              break
          }
          yield* checkInvariants(table, k, maxSize, diversity)
        }
      }),
    { timeout: 60_000, fastCheck: { numRuns: 60 } }
  )

  it.scoped.prop(
    "nearest equals a brute-force sort by XOR distance",
    {
      k: fc.constantFrom(1, 4, 20, 4000),
      members: fc.integer({ min: 0, max: POOL_SIZE - 1 }),
      keys: fc.array(keyArb, { minLength: 1, maxLength: 10 }),
      count: fc.integer({ min: 0, max: 80 })
    },
    ({ k, members, keys, count }) =>
      Effect.gen(function* () {
        const table = yield* RoutingTable.make({ self, bucketSize: k, isAlive: () => Effect.succeed(true) })
        for (const peer of pool.slice(0, members)) yield* table.tryAdd({ id: peer, multiaddrs: [] })
        const peers = yield* table.listPeers
        for (const key of [...keys, selfKad, poolKad[0]]) {
          const nearest = yield* table.nearest(key, count)
          expect(nearest.map((e) => e.id.toString())).toEqual(bruteForceNearest(peers, key, count))
        }
      }),
    { timeout: 60_000, fastCheck: { numRuns: 40 } }
  )

  it.scoped.prop(
    "a Sybil flood from one /16 and one /32 never exceeds the diversity limits",
    {
      order: fc.shuffledSubarray(
        Array.from({ length: 600 }, (_, i) => i),
        { minLength: 100 }
      ),
      sybilShare: fc.integer({ min: 1, max: 9 })
    },
    ({ order, sybilShare }) =>
      Effect.gen(function* () {
        const k = 20
        const table = yield* RoutingTable.make({
          self,
          bucketSize: k,
          diversity: { enabled: true },
          isAlive: () => Effect.succeed(true)
        })
        const honest = new Set<number>()
        for (const i of order) {
          const sybil = i % 10 < sybilShare
          const address = sybil
            ? i % 2 === 0
              ? `/ip4/66.66.${i & 255}.${i >> 8}/tcp/4001`
              : `/ip6/2001:db8:${i.toString(16)}::1/udp/4001/quic-v1`
            : `/ip4/${100 + (i >> 8)}.${i & 255}.0.1/tcp/4001`
          if (!sybil) honest.add(i)
          yield* table.tryAdd({ id: pool[i], multiaddrs: [multiaddr(address)] })
        }
        const peers = yield* table.listPeers
        checkDiversity(peers, 2, 3)
        const groups = peers.flatMap((e) => ipGroupsOf(e.multiaddrs))
        expect(groups.filter((g) => g === "ip4/66.66").length).toBeLessThanOrEqual(3)
        expect(groups.filter((g) => g === "ip6/2001:db8").length).toBeLessThanOrEqual(3)
        // honest peers (each on its own /16) are refused only by a full bucket
        for (const i of honest) {
          if (Option.isNone(yield* table.find(pool[i]))) {
            expect(yield* table.peerCountForCpl(commonPrefixLength(selfKad, poolKad[i]))).toBe(k)
          }
        }
      }),
    { timeout: 60_000, fastCheck: { numRuns: 25 } }
  )

  it.scoped.prop(
    "a full bucket keeps its live peers and gives every dead one's slot to a newcomer",
    {
      k: fc.integer({ min: 1, max: 12 }),
      liveness: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      usefulness: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      extra: fc.integer({ min: 0, max: 5 })
    },
    ({ k, liveness, usefulness, extra }) =>
      Effect.gen(function* () {
        const bucket0 = pool.filter((_, i) => i < POOL_SIZE - 1 && commonPrefixLength(selfKad, poolKad[i]) === 0)
        const incumbents = bucket0.slice(0, k)
        const newcomers = bucket0.slice(k, 2 * k + extra)
        const dead = incumbents.filter((_, i) => !liveness[i])
        const table = yield* RoutingTable.make({
          self,
          bucketSize: k,
          usefulnessGracePeriodMillis: GRACE,
          isAlive: (peer) => Effect.succeed(!dead.some((d) => d.equals(peer)))
        })
        for (const peer of incumbents) expect(yield* table.tryAdd({ id: peer, multiaddrs: [] })).toBe(true)
        yield* TestClock.adjust(1_000)
        for (const [i, peer] of incumbents.entries()) if (usefulness[i]) yield* table.markUseful(peer)
        // newcomers within the grace period change nothing
        expect(yield* table.tryAdd({ id: newcomers[0], multiaddrs: [] })).toBe(false)
        yield* TestClock.adjust(GRACE + 1_000)
        let admitted = 0
        for (const peer of newcomers) if (yield* table.tryAdd({ id: peer, multiaddrs: [] })) admitted++
        // each newcomer settles one stale incumbent, so k newcomers settle them all
        expect(admitted).toBe(dead.length)
        expect(yield* table.peerCountForCpl(0)).toBe(k)
        for (const peer of incumbents) {
          const present = Option.isSome(yield* table.find(peer))
          expect(present).toBe(!dead.includes(peer))
        }
      }),
    { timeout: 60_000, fastCheck: { numRuns: 60 } }
  )
})
