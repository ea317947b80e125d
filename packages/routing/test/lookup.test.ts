import { describe, expect, it } from "@effect/vitest"
import {
  commonPrefixLength,
  compareDistance,
  type KadId,
  kadIdOfKey,
  kadIdOfPeer,
  MemoryNetworkHub,
  type Message,
  MessageType,
  type NetworkShape,
  type PeerInfo,
  peerInfoToWire
} from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Chunk, Effect, Exit, Scope, Stream } from "effect"
import { findNodeQuery } from "../src/lookup/find-node.js"
import { type LookupEvent, lookupStream, runLookup } from "../src/lookup/lookup.js"

const K = 20

interface SimPeer {
  readonly id: PeerId
  readonly kadId: KadId
  readonly table: Array<SimPeer>
  network: NetworkShape
}

const makePeers = (n: number) =>
  Effect.promise(async () => {
    const peers: Array<SimPeer> = []
    for (let i = 0; i < n; i++) {
      const id = peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
      peers.push({ id, kadId: kadIdOfPeer(id), table: [], network: undefined as unknown as NetworkShape })
    }
    return peers
  })

/** Fills each peer's table as a well-maintained Kademlia table would be: up to k random peers per bucket. */
const fillTables = (peers: ReadonlyArray<SimPeer>) => {
  for (const peer of peers) {
    const buckets = new Map<number, Array<SimPeer>>()
    for (const other of peers) {
      if (other === peer) continue
      const cpl = commonPrefixLength(peer.kadId, other.kadId)
      const bucket = buckets.get(cpl)
      if (bucket === undefined) buckets.set(cpl, [other])
      else bucket.push(other)
    }
    for (const bucket of buckets.values()) {
      // deterministic "random" choice: sort by a hash-like order
      bucket.sort((a, b) => compareDistance(a.kadId, b.kadId, peer.id.toMultihash().digest as unknown as KadId))
      peer.table.push(...bucket.slice(0, K))
    }
  }
}

const closestOf = (table: ReadonlyArray<SimPeer>, target: KadId, count: number) =>
  [...table].sort((a, b) => compareDistance(a.kadId, b.kadId, target)).slice(0, count)

const info = (peer: SimPeer): PeerInfo => ({ id: peer.id, multiaddrs: [] })

/** FIND_NODE handler answering from the peer's static table. */
const serveFindNode = (peer: SimPeer) =>
  peer.network.serve((_from, request: Message) =>
    Effect.sync(() => {
      if (request.type !== MessageType.FIND_NODE || request.key === undefined) return undefined
      const target = kadIdOfKey(request.key)
      return {
        type: MessageType.FIND_NODE,
        closerPeers: closestOf(peer.table, target, K).map((p) => peerInfoToWire(info(p))),
        providerPeers: []
      }
    })
  )

const buildNetwork = (n: number, hub: MemoryNetworkHub) =>
  Effect.gen(function* () {
    const peers = yield* makePeers(n)
    fillTables(peers)
    for (const peer of peers) {
      peer.network = yield* hub.attach(peer.id)
      yield* serveFindNode(peer)
    }
    return peers
  })

const randomKey = () => crypto.getRandomValues(new Uint8Array(32))

describe("iterative lookup on a simulated network", () => {
  it.scoped(
    "finds the true k closest peers among 600 nodes for at least 95% of random targets, in O(log N) hops",
    () =>
      Effect.gen(function* () {
        const hub = new MemoryNetworkHub()
        const peers = yield* buildNetwork(600, hub)
        const trials = 60
        let exact = 0
        let maxHops = 0
        for (let t = 0; t < trials; t++) {
          const origin = peers[(t * 7919) % peers.length]
          const key = randomKey()
          const target = kadIdOfKey(key)
          const result = yield* runLookup({
            target,
            seeds: closestOf(origin.table, target, K).map(info),
            self: origin.id,
            k: K,
            alpha: 10,
            beta: 3,
            query: findNodeQuery(origin.network, key)
          })
          const truth = closestOf(
            peers.filter((p) => p !== origin),
            target,
            K
          ).map((p) => p.id.toString())
          const found = result.closest.map((p) => p.id.toString())
          if (JSON.stringify(found) === JSON.stringify(truth)) exact++
          maxHops = Math.max(maxHops, result.hops)
          expect(result.failed).toBe(0)
        }
        expect(exact / trials).toBeGreaterThanOrEqual(0.95)
        // log2(600) is about 9.2; a seeded Kademlia lookup needs far fewer referral hops
        expect(maxHops).toBeLessThanOrEqual(Math.ceil(Math.log2(peers.length)))
      }),
    120_000
  )

  it.scoped("routes around dead peers and still converges", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const peers = yield* buildNetwork(200, hub)
      const origin = peers[0]
      const key = randomKey()
      const target = kadIdOfKey(key)
      // kill a third of the peers, including some of the true closest
      const dead = new Set<string>()
      for (let i = 1; i < peers.length; i += 3) {
        yield* hub.kill(peers[i].id)
        dead.add(peers[i].id.toString())
      }
      const result = yield* runLookup({
        target,
        seeds: closestOf(origin.table, target, K).map(info),
        self: origin.id,
        k: K,
        alpha: 10,
        beta: 3,
        query: findNodeQuery(origin.network, key)
      })
      expect(result.failed).toBeGreaterThan(0)
      expect(result.closest.every((p) => !dead.has(p.id.toString()))).toBe(true)
      // nobody evicted the dead from their tables, so every answer near the target lists the same
      // k globally closest peers, dead ones included: the lookup must find every live one of them
      const advertisedLive = closestOf(
        peers.filter((p) => p !== origin),
        target,
        K
      )
        .filter((p) => !dead.has(p.id.toString()))
        .map((p) => p.id.toString())
      const found = result.closest.map((p) => p.id.toString())
      expect(found.slice(0, advertisedLive.length)).toEqual(advertisedLive)
    })
  )

  it.scopedLive("never has more than alpha requests in flight", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub({ latencyMillis: () => 2 })
      const peers = yield* buildNetwork(150, hub)
      const origin = peers[0]
      const key = randomKey()
      const target = kadIdOfKey(key)
      let inFlight = 0
      let maxInFlight = 0
      const base = findNodeQuery(origin.network, key)
      yield* runLookup({
        target,
        seeds: closestOf(origin.table, target, K).map(info),
        self: origin.id,
        k: K,
        alpha: 4,
        beta: 3,
        query: (peer) =>
          Effect.sync(() => {
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
          }).pipe(Effect.zipRight(base(peer)), Effect.ensuring(Effect.sync(() => inFlight--)))
      })
      expect(maxInFlight).toBeGreaterThan(1)
      expect(maxInFlight).toBeLessThanOrEqual(4)
    })
  )

  it.scopedLive("streams progress events, stops early on a predicate and cancels in-flight requests", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub({ latencyMillis: () => 5 })
      const peers = yield* buildNetwork(200, hub)
      const origin = peers[0]
      const wanted = peers[123]
      const key = wanted.id.toMultihash().bytes
      const target = kadIdOfKey(key)
      const events = yield* lookupStream({
        target,
        seeds: closestOf(origin.table, target, K).map(info),
        self: origin.id,
        k: K,
        alpha: 3,
        beta: 3,
        query: findNodeQuery(origin.network, key),
        stopWhen: (event) => event._tag === "PeerResponded" && event.outcome.closer.some((p) => p.id.equals(wanted.id))
      }).pipe(Stream.runCollect, Effect.map(Chunk.toArray))
      const tags = events.map((e: LookupEvent<never, unknown>) => e._tag)
      expect(tags[0]).toBe("QuerySent")
      expect(tags.at(-1)).toBe("Finished")
      const finished = events.at(-1)
      expect(finished?._tag === "Finished" && finished.result.reason).toBe("stopped")
    })
  )

  it.effect("interrupting the stream interrupts the requests still in flight", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const hub = new MemoryNetworkHub()
      const peers = yield* buildNetwork(50, hub).pipe(Scope.extend(scope))
      const origin = peers[0]
      let interrupted = 0
      const key = randomKey()
      const target = kadIdOfKey(key)
      const first = yield* lookupStream({
        target,
        seeds: closestOf(origin.table, target, K).map(info),
        self: origin.id,
        k: K,
        alpha: 5,
        beta: 3,
        query: () => Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted++)))
      }).pipe(Stream.take(5), Stream.runCollect)
      expect(Chunk.size(first)).toBe(5)
      expect(interrupted).toBe(5)
      yield* Scope.close(scope, Exit.void)
    })
  )
})
