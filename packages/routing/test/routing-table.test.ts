import { describe, expect, it } from "@effect/vitest"
import { commonPrefixLength, KEYSPACE_BITS, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Chunk, Deferred, Effect, Fiber, Option, Ref, Stream, TestClock } from "effect"
import {
  defaultUsefulnessGracePeriodMillis,
  ipGroupOf,
  ipGroupsOf,
  maxLastSuccessfulOutboundThresholdMillis,
  RoutingTable,
  type RoutingTableConfig
} from "../src/index.js"

const POOL_SIZE = 400
const pool: ReadonlyArray<PeerId> = await Promise.all(
  Array.from({ length: POOL_SIZE }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
)
const self = pool[0]
const selfKad = kadIdOfPeer(self)
const others = pool.slice(1)
/** Peers of the pool (other than self) whose bucket is `cpl`. */
const inBucket = (cpl: number): ReadonlyArray<PeerId> =>
  others.filter((p) => commonPrefixLength(selfKad, kadIdOfPeer(p)) === cpl)
const bucket0 = inBucket(0)
const bucket1 = inBucket(1)

const addr = (text: string) => multiaddr(text)
const info = (id: PeerId, ...addrs: Array<string>): PeerInfo => ({
  id,
  multiaddrs: (addrs.length > 0 ? addrs : ["/ip4/127.0.0.1/tcp/4001"]).map(addr)
})

const GRACE = 60_000

/** A liveness oracle over a set of dead peers that records every check it is asked for. */
const makeOracle = (dead: ReadonlyArray<PeerId> = []) =>
  Effect.map(Ref.make<ReadonlyArray<string>>([]), (pings) => ({
    pings,
    isAlive: (peer: PeerId) =>
      Ref.update(pings, (all) => [...all, peer.toString()]).pipe(Effect.as(!dead.some((d) => d.equals(peer))))
  }))

const ids = (entries: ReadonlyArray<{ readonly id: PeerId }>): Array<string> =>
  entries.map((e) => e.id.toString()).sort()
const str = (peers: ReadonlyArray<PeerId>): Array<string> => peers.map((p) => p.toString()).sort()

const makeTable = (config: Partial<RoutingTableConfig> & Pick<RoutingTableConfig, "isAlive">) =>
  RoutingTable.make({ self, usefulnessGracePeriodMillis: GRACE, ...config })

describe("RoutingTable admission", () => {
  it.scoped("puts peers in the bucket of their common prefix length and refuses itself", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true), bucketSize: 64 })
      expect(yield* table.tryAdd(info(self))).toBe(false)
      for (const peer of others.slice(0, 50)) expect(yield* table.tryAdd(info(peer))).toBe(true)
      expect(yield* table.size).toBe(50)
      for (const entry of yield* table.listPeers) {
        expect(entry.cpl).toBe(commonPrefixLength(selfKad, kadIdOfPeer(entry.id)))
        expect(Array.from(entry.kadId)).toEqual(Array.from(kadIdOfPeer(entry.id)))
      }
      const summary = yield* table.buckets
      expect(summary.length).toBe(yield* table.bucketCount)
      expect(summary.reduce((n, b) => n + b.size, 0)).toBe(50)
      const deepest = Math.max(...(yield* table.listPeers).map((e) => e.cpl))
      expect(yield* table.bucketCount).toBe(deepest + 1)
    })
  )

  it.scoped("accepts a 32-byte Kad ID as self", () =>
    Effect.gen(function* () {
      const table = yield* RoutingTable.make({ self: selfKad, isAlive: () => Effect.succeed(true) })
      expect(Array.from(table.localKadId)).toEqual(Array.from(selfKad))
      expect(yield* table.tryAdd(info(self))).toBe(false)
      expect(yield* table.tryAdd(info(others[0]))).toBe(true)
    })
  )

  it.scoped("refreshes the addresses of a known peer and keeps them when offered none", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      const peer = others[0]
      expect(yield* table.tryAdd(info(peer, "/ip4/1.2.3.4/tcp/1"))).toBe(true)
      expect(yield* table.tryAdd(info(peer, "/ip4/5.6.7.8/tcp/2", "/ip6/2001:db8::1/tcp/2"))).toBe(false)
      const updated = Option.getOrThrow(yield* table.find(peer))
      expect(updated.multiaddrs.map(String)).toEqual(["/ip4/5.6.7.8/tcp/2", "/ip6/2001:db8::1/tcp/2"])
      yield* table.tryAdd({ id: peer, multiaddrs: [] })
      expect(Option.getOrThrow(yield* table.find(peer)).multiaddrs.length).toBe(2)
      expect(yield* table.size).toBe(1)
    })
  )

  it.scoped("refuses peers the filter rejects", () =>
    Effect.gen(function* () {
      const banned = others[3]
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true), peerFilter: (p) => !p.id.equals(banned) })
      expect(yield* table.tryAdd(info(banned))).toBe(false)
      expect(yield* table.tryAdd(info(others[4]))).toBe(true)
      expect(Option.isNone(yield* table.find(banned))).toBe(true)
    })
  )

  it.scoped("never holds more than maxRoutingTableSize peers", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true), maxRoutingTableSize: 7 })
      let added = 0
      for (const peer of others.slice(0, 100)) if (yield* table.tryAdd(info(peer))) added++
      expect(added).toBe(7)
      expect(yield* table.size).toBe(7)
    })
  )

  it.scoped("rejects invalid configuration with a named field", () =>
    Effect.gen(function* () {
      const isAlive = () => Effect.succeed(true)
      const cases: Array<[Partial<RoutingTableConfig>, string]> = [
        [{ bucketSize: 0 }, "bucketSize"],
        [{ bucketSize: 2.5 }, "bucketSize"],
        [{ maxRoutingTableSize: -1 }, "maxRoutingTableSize"],
        [{ usefulnessGracePeriodMillis: Number.NaN }, "usefulnessGracePeriodMillis"],
        [{ diversity: { enabled: true, maxPerGroupPerBucket: 0 } }, "diversity.maxPerGroupPerBucket"],
        [{ self: new Uint8Array(31) as never }, "self"]
      ]
      for (const [config, field] of cases) {
        const error = yield* Effect.flip(RoutingTable.make({ self, isAlive, ...config }))
        expect(error._tag).toBe("InvalidOptionError")
        expect(error.field).toBe(field)
      }
    })
  )
})

describe("RoutingTable full buckets", () => {
  const k = 3

  it.scoped("refuses newcomers without a liveness check while incumbents are within the grace period", () =>
    Effect.gen(function* () {
      const oracle = yield* makeOracle(bucket0.slice(0, k))
      const table = yield* makeTable({ isAlive: oracle.isAlive, bucketSize: k })
      for (const peer of bucket0.slice(0, k)) expect(yield* table.tryAdd(info(peer))).toBe(true)
      yield* TestClock.adjust(GRACE)
      expect(yield* table.tryAdd(info(bucket0[k]))).toBe(false)
      expect(yield* Ref.get(oracle.pings)).toEqual([])
      expect(ids(yield* table.listPeers)).toEqual(str(bucket0.slice(0, k)))
      // another bucket still has room
      expect(yield* table.tryAdd(info(bucket1[0]))).toBe(true)
    })
  )

  it.scoped("replaces the least useful stale peer when it fails the liveness check", () =>
    Effect.gen(function* () {
      const [a, b, c, newcomer] = bucket0
      const oracle = yield* makeOracle([c])
      const table = yield* makeTable({ isAlive: oracle.isAlive, bucketSize: k })
      const events = yield* table.subscribe
      for (const peer of [a, b, c]) yield* table.tryAdd(info(peer))
      yield* TestClock.adjust(10_000)
      expect(yield* table.markUseful(a)).toBe(true)
      expect(yield* table.markUseful(b)).toBe(true)
      yield* TestClock.adjust(GRACE + 1)
      expect(yield* table.tryAdd(info(newcomer))).toBe(true)
      expect(yield* Ref.get(oracle.pings)).toEqual([c.toString()])
      expect(ids(yield* table.listPeers)).toEqual(str([a, b, newcomer]))
      const seen = yield* events.pipe(Stream.take(5), Stream.runCollect)
      expect(Chunk.toArray(seen).map((e) => [e._tag, e.peer.id.toString()])).toEqual([
        ["PeerAdded", a.toString()],
        ["PeerAdded", b.toString()],
        ["PeerAdded", c.toString()],
        ["PeerRemoved", c.toString()],
        ["PeerAdded", newcomer.toString()]
      ])
    })
  )

  it.scoped("keeps live incumbents, checking each stale one at most once per grace period", () =>
    Effect.gen(function* () {
      const [a, b, c] = bucket0
      const newcomers = bucket0.slice(3, 8)
      const oracle = yield* makeOracle([])
      const table = yield* makeTable({ isAlive: oracle.isAlive, bucketSize: k })
      for (const peer of [a, b, c]) yield* table.tryAdd(info(peer))
      yield* TestClock.adjust(10_000)
      yield* table.markUseful(a)
      yield* table.markUseful(b)
      yield* TestClock.adjust(GRACE + 1)
      for (const peer of newcomers) expect(yield* table.tryAdd(info(peer))).toBe(false)
      // least useful first: c was never useful; a and b tie, a was found first
      expect(yield* Ref.get(oracle.pings)).toEqual([c.toString(), a.toString(), b.toString()])
      expect(ids(yield* table.listPeers)).toEqual(str([a, b, c]))
      const checked = Option.getOrThrow(yield* table.find(c))
      expect(checked.lastSuccessfulOutboundQueryAt.getTime()).toBe(10_000 + GRACE + 1)
    })
  )

  it.scoped("lets a newcomer take a replaceable (bootstrap) peer's slot without a liveness check", () =>
    Effect.gen(function* () {
      const [a, b, c, newcomer, late] = bucket0
      const oracle = yield* makeOracle([])
      const table = yield* makeTable({ isAlive: oracle.isAlive, bucketSize: k })
      yield* table.tryAdd(info(a), { isReplaceable: true })
      yield* table.tryAdd(info(b))
      yield* table.tryAdd(info(c))
      expect(yield* table.tryAdd(info(newcomer))).toBe(true)
      expect(ids(yield* table.listPeers)).toEqual(str([b, c, newcomer]))
      expect(Option.getOrThrow(yield* table.find(newcomer)).replaceable).toBe(false)
      expect(yield* table.tryAdd(info(late))).toBe(false)
      expect(yield* Ref.get(oracle.pings)).toEqual([])
    })
  )

  it.scoped("a new peer is useful while its bucket has room or a replaceable peer, and not once held", () =>
    Effect.gen(function* () {
      const [a, b, c, d] = bucket0
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true), bucketSize: 2 })
      expect(yield* table.isUsefulNewPeer(self)).toBe(false)
      expect(yield* table.isUsefulNewPeer(a)).toBe(true)
      yield* table.tryAdd(info(a), { isReplaceable: true })
      expect(yield* table.isUsefulNewPeer(a)).toBe(false)
      yield* table.tryAdd(info(b))
      // full, but a can make way
      expect(yield* table.isUsefulNewPeer(c)).toBe(true)
      yield* table.tryAdd(info(c))
      // full of peers that stay: only a liveness check could make room
      expect(yield* table.isUsefulNewPeer(d)).toBe(false)
      expect(yield* table.isUsefulNewPeer(bucket1[0])).toBe(true)
      expect(yield* table.size).toBe(2)
    })
  )

  it.scoped("a table at its size cap makes room only inside the newcomer's own bucket", () =>
    Effect.gen(function* () {
      const [a, b] = bucket0
      const oracle = yield* makeOracle([a])
      const table = yield* makeTable({ isAlive: oracle.isAlive, maxRoutingTableSize: 2 })
      yield* table.tryAdd(info(a))
      yield* table.tryAdd(info(b))
      yield* TestClock.adjust(GRACE + 1)
      // bucket 1 is empty: nothing there can make way
      expect(yield* table.tryAdd(info(bucket1[0]))).toBe(false)
      expect(yield* Ref.get(oracle.pings)).toEqual([])
      // bucket 0 has a dead stale peer, so a bucket-0 newcomer takes its place
      expect(yield* table.tryAdd(info(bucket0[2]))).toBe(true)
      expect(ids(yield* table.listPeers)).toEqual(str([b, bucket0[2]]))
    })
  )

  it.scoped("concurrent newcomers to a full bucket never overfill it", () =>
    Effect.gen(function* () {
      const incumbents = bucket0.slice(0, 2)
      const newcomers = bucket0.slice(2, 8)
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const pings = yield* Ref.make(0)
      const table = yield* makeTable({
        bucketSize: 2,
        // every incumbent is dead, but the answer takes until the gate opens
        isAlive: () =>
          Ref.update(pings, (n) => n + 1).pipe(
            Effect.zipRight(Deferred.succeed(started, undefined)),
            Effect.zipRight(Deferred.await(gate)),
            Effect.as(false)
          )
      })
      for (const peer of incumbents) yield* table.tryAdd(info(peer))
      yield* TestClock.adjust(GRACE + 1)
      const fiber = yield* Effect.fork(
        Effect.forEach(newcomers, (peer) => table.tryAdd(info(peer)), { concurrency: "unbounded" })
      )
      yield* Deferred.await(started)
      yield* Effect.repeatN(Effect.yieldNow(), 50)
      // the first liveness check is in flight and holds the bucket; the others wait
      expect(yield* Ref.get(pings)).toBe(1)
      expect(yield* table.peerCountForCpl(0)).toBe(2)
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Fiber.join(fiber)
      expect(results.filter(Boolean).length).toBe(2)
      expect(yield* Ref.get(pings)).toBe(2)
      expect(yield* table.peerCountForCpl(0)).toBe(2)
      const held = ids(yield* table.listPeers)
      expect(held).toEqual(str(newcomers.filter((_, i) => results[i])))
    })
  )
})

describe("RoutingTable bookkeeping", () => {
  it.scoped("tracks usefulness, successful queries and smoothed latency", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      const [p, q, unknown] = others
      yield* TestClock.adjust(1_000)
      yield* table.tryAdd(info(p))
      yield* table.tryAdd(info(q), { queryPeer: true })
      const fresh = Option.getOrThrow(yield* table.find(p))
      expect(fresh.addedAt.getTime()).toBe(1_000)
      expect(fresh.lastUsefulAt).toBeUndefined()
      expect(fresh.lastSuccessfulOutboundQueryAt.getTime()).toBe(1_000)
      expect(fresh.latencyMillis).toBeUndefined()
      expect(Option.getOrThrow(yield* table.find(q)).lastUsefulAt?.getTime()).toBe(1_000)

      yield* TestClock.adjust(1_000)
      // the first query after admission is a usefulness bump, later ones only a contact
      yield* table.tryAdd(info(p), { queryPeer: true })
      yield* TestClock.adjust(1_000)
      yield* table.tryAdd(info(p), { queryPeer: true })
      const queried = Option.getOrThrow(yield* table.find(p))
      expect(queried.lastUsefulAt?.getTime()).toBe(2_000)
      expect(queried.lastSuccessfulOutboundQueryAt.getTime()).toBe(3_000)

      yield* TestClock.adjust(1_000)
      expect(yield* table.markUseful(p)).toBe(true)
      expect(yield* table.markSuccessfulOutboundQuery(q)).toBe(true)
      expect(Option.getOrThrow(yield* table.find(p)).lastUsefulAt?.getTime()).toBe(4_000)
      expect(Option.getOrThrow(yield* table.find(q)).lastSuccessfulOutboundQueryAt.getTime()).toBe(4_000)

      expect(yield* table.recordLatency(p, 100)).toBe(true)
      expect(yield* table.recordLatency(p, 200)).toBe(true)
      expect(yield* table.recordLatency(p, -5)).toBe(false)
      expect(Option.getOrThrow(yield* table.find(p)).latencyMillis).toBeCloseTo(110, 9)

      expect(yield* table.markUseful(unknown)).toBe(false)
      expect(yield* table.recordLatency(unknown, 5)).toBe(false)
      expect(Option.isNone(yield* table.find(unknown))).toBe(true)
    })
  )

  it.scoped("removes peers and reports it", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      const events = yield* table.subscribe
      const [p, q] = others
      yield* table.tryAdd(info(p))
      yield* table.tryAdd(info(q))
      expect(yield* table.remove(p)).toBe(true)
      expect(yield* table.remove(p)).toBe(false)
      expect(ids(yield* table.listPeers)).toEqual(str([q]))
      const seen = Chunk.toArray(yield* events.pipe(Stream.take(3), Stream.runCollect))
      expect(seen.map((e) => [e._tag, e.peer.id.toString()])).toEqual([
        ["PeerAdded", p.toString()],
        ["PeerAdded", q.toString()],
        ["PeerRemoved", p.toString()]
      ])
    })
  )

  it.scoped("records bucket refreshes", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      expect(yield* table.bucketCount).toBe(0)
      expect(yield* table.buckets).toEqual([])
      yield* table.tryAdd(info(bucket1[0]))
      yield* TestClock.adjust(5_000)
      yield* table.markBucketRefreshed(0)
      const summary = yield* table.buckets
      expect(summary).toEqual([
        { cpl: 0, size: 0, lastRefreshedAt: new Date(5_000) },
        { cpl: 1, size: 1, lastRefreshedAt: undefined }
      ])
      expect(yield* table.peerCountForCpl(1)).toBe(1)
      expect(yield* table.peerCountForCpl(KEYSPACE_BITS)).toBe(0)
    })
  )

  it.scoped("nearest handles an empty table, a zero count and the local ID as key", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      expect(yield* table.nearest(selfKad, 5)).toEqual([])
      for (const peer of others.slice(0, 30)) yield* table.tryAdd(info(peer))
      expect(yield* table.nearest(selfKad, 0)).toEqual([])
      const nearest = yield* table.nearest(selfKad, 30)
      const cpls = nearest.map((e) => e.cpl)
      // closest to ourselves means deepest bucket first
      expect(cpls).toEqual([...cpls].sort((x, y) => y - x))
      expect(nearest.length).toBe(30)
    })
  )

  it("derives go-libp2p-kad-dht's default usefulness thresholds", () => {
    // ln(1/20) / ln(1/2) refresh intervals of 10 minutes, and twice that for the grace period
    const threshold = (Math.log(20) / Math.log(2)) * 600_000
    expect(maxLastSuccessfulOutboundThresholdMillis()).toBeCloseTo(threshold, 3)
    expect(defaultUsefulnessGracePeriodMillis()).toBeCloseTo(2 * threshold, 3)
    expect(defaultUsefulnessGracePeriodMillis() / 60_000).toBeCloseTo(86.44, 1)
    expect(maxLastSuccessfulOutboundThresholdMillis({ bucketSize: 5, alpha: 5 })).toBe(600_000)
  })
})

describe("IP diversity", () => {
  it("groups IPv4 by /16 and IPv6 by /32", () => {
    expect(ipGroupOf(addr("/ip4/203.0.113.7/tcp/4001"))).toBe("ip4/203.0")
    expect(ipGroupOf(addr("/ip4/203.0.200.1/udp/1/quic-v1"))).toBe("ip4/203.0")
    expect(ipGroupOf(addr("/ip4/203.1.113.7/tcp/4001"))).toBe("ip4/203.1")
    expect(ipGroupOf(addr("/ip6/2001:db8:1:2::1/tcp/1"))).toBe("ip6/2001:db8")
    expect(ipGroupOf(addr("/ip6/2001:db8:ffff::/tcp/1"))).toBe("ip6/2001:db8")
    expect(ipGroupOf(addr("/ip6/2001:db9::1/tcp/1"))).toBe("ip6/2001:db9")
    expect(ipGroupOf(addr("/ip6/::1/tcp/1"))).toBe("ip6/0:0")
    expect(ipGroupOf(addr("/ip6/::ffff:198.51.100.4/tcp/1"))).toBe("ip4/198.51")
    expect(ipGroupOf(addr("/ip6zone/eth0/ip6/fe80::1/tcp/1"))).toBe("ip6/fe80:0")
    expect(ipGroupOf(addr("/dns4/example.com/tcp/1"))).toBeUndefined()
    expect(ipGroupOf(addr("/memory/a"))).toBeUndefined()
    expect(
      ipGroupsOf(["/ip4/1.2.3.4/tcp/1", "/ip4/1.2.9.9/udp/1", "/dns/x/tcp/1", "/ip4/1.3.0.1/tcp/1"].map(addr))
    ).toEqual(["ip4/1.2", "ip4/1.3"])
  })

  it.scoped("limits one /16 to two peers per bucket and three per table", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true), diversity: { enabled: true } })
      const sybil = (i: number) => `/ip4/66.66.${i}.1/tcp/4001`
      const added0 = []
      for (const [i, peer] of bucket0.slice(0, 5).entries()) added0.push(yield* table.tryAdd(info(peer, sybil(i))))
      expect(added0).toEqual([true, true, false, false, false])
      const added1 = []
      for (const [i, peer] of bucket1.slice(0, 3).entries()) added1.push(yield* table.tryAdd(info(peer, sybil(i))))
      expect(added1).toEqual([true, false, false])
      // other networks are unaffected
      expect(yield* table.tryAdd(info(bucket0[10], "/ip4/66.67.0.1/tcp/1"))).toBe(true)
      // a peer without any IP address cannot be attributed, so it is refused
      expect(yield* table.tryAdd(info(bucket0[11], "/dns4/example.com/tcp/1"))).toBe(false)
      // a known peer cannot move its addresses into the saturated network
      const honest = bucket0[10]
      yield* table.tryAdd(info(honest, "/ip4/66.66.99.1/tcp/1"))
      expect(Option.getOrThrow(yield* table.find(honest)).multiaddrs.map(String)).toEqual(["/ip4/66.67.0.1/tcp/1"])
      // after a sybil leaves, its network has room again
      yield* table.remove(bucket0[0])
      expect(yield* table.tryAdd(info(bucket0[4], sybil(4)))).toBe(true)
    })
  )

  it.scoped("is off unless enabled", () =>
    Effect.gen(function* () {
      const table = yield* makeTable({ isAlive: () => Effect.succeed(true) })
      for (const peer of bucket0.slice(0, 10)) expect(yield* table.tryAdd(info(peer, "/ip4/10.0.0.1/tcp/1"))).toBe(true)
      expect(yield* table.tryAdd({ id: bucket1[0], multiaddrs: [] })).toBe(true)
    })
  )
})
