import { describe, expect, it } from "@effect/vitest"
import {
  commonPrefixLength,
  compareDistance,
  kadIdOfKey,
  kadIdOfPeer,
  MemoryNetworkHub,
  MessageType,
  Network,
  peerInfoFromWire
} from "@effect-kad/core"
import { Chunk, Context, Effect, Layer, Stream } from "effect"
import {
  type BucketInfo,
  generatePeerIds,
  layerPeerRouting,
  makeSimulation,
  PeerRouting,
  RefreshManager,
  RoutingTable,
  simulationDefaults
} from "../src/index.js"

describe("the answers of a server", () => {
  it.scoped("never name the requester in closerPeers, even when it is the closest peer to the key", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 25 })
      const server = sim.servers[0]
      const known = yield* server.run(Effect.flatMap(RoutingTable, (t) => t.listPeers))
      expect(known.length).toBeGreaterThan(simulationDefaults.k)
      // the requester is in the server's table and asks about its own ID: it is the closest peer of all
      const requester = sim.nodes.find((n) => n.id.equals(known[0].id))
      if (requester === undefined) throw new Error("the server's peer is not a simulated node")
      const key = requester.id.toMultihash().bytes
      const direct = yield* server.run(Effect.flatMap(PeerRouting, (r) => r.closerPeersFor(key, requester.id)))
      const named = direct.map((p) => String(peerInfoFromWire(p)?.id))
      expect(named).not.toContain(requester.id.toString())
      expect(named).toHaveLength(simulationDefaults.k)
      // and over the wire
      const response = yield* requester.run(
        Effect.flatMap(Network, (n) =>
          n.request(server.id, { type: MessageType.FIND_NODE, key, closerPeers: [], providerPeers: [] })
        )
      )
      const overWire = response.closerPeers.map((p) => String(peerInfoFromWire(p)?.id))
      expect(overWire).not.toContain(requester.id.toString())
      expect(overWire).toHaveLength(simulationDefaults.k)
      // the k closest of the others, closest first
      const target = kadIdOfKey(key)
      const expected = known
        .filter((p) => !p.id.equals(requester.id))
        .map((p) => p.id)
        .sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
        .slice(0, simulationDefaults.k)
        .map(String)
      expect([...overWire].sort()).toEqual([...expected].sort())
    })
  )
})

describe("no self-dial", () => {
  it.scoped("a lookup for our own ID never queries us, though every answer names us", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 15 })
      const node = sim.servers[5]
      const events = yield* node.run(
        Effect.flatMap(PeerRouting, (r) => Stream.runCollect(r.getClosestPeersStream(node.id.toMultihash().bytes)))
      )
      const queried = Chunk.toArray(events).flatMap((e) => (e._tag === "QuerySent" ? [e.peer.toString()] : []))
      expect(queried.length).toBeGreaterThan(0)
      expect(queried).not.toContain(node.id.toString())
      expect(yield* node.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: node.id, multiaddrs: [] })))).toBe(
        false
      )
    })
  )

  it.scoped("bootstrap skips our own entry in a shared bootstrap list", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 5 })
      const [id] = yield* generatePeerIds(1)
      const base = yield* Layer.build(layerPeerRouting(simulationDefaults).pipe(Layer.provideMerge(sim.hub.layer(id))))
      const contact = yield* sim.nodes[0].run(Effect.flatMap(Network, (n) => n.selfInfo))
      const self = yield* Effect.provide(
        Effect.flatMap(Network, (n) => n.selfInfo),
        base
      )
      const requestsBefore = sim.hub.stats.requests
      const refresh = yield* Layer.build(
        RefreshManager.layer({ autoRefresh: false, fixLowPeers: false, bootstrapPeers: [self, contact] })
      ).pipe(Effect.provide(base))
      const report = yield* Context.get(refresh, RefreshManager).bootstrap({ quickConnectOnly: true })
      expect(report.connected.map(String)).toEqual([contact.id.toString()])
      expect(report.failed).toEqual([])
      // a quick connect only dials: no request went out, to us or anyone
      expect(sim.hub.stats.requests).toBe(requestsBefore)
    })
  )
})

describe("the refresh gap rule", () => {
  it.scoped("after an empty bucket c, only buckets up to 2(c+1) are looked up, then the refresh stops", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const [id] = yield* generatePeerIds(1)
      const base = yield* Layer.build(layerPeerRouting(simulationDefaults).pipe(Layer.provideMerge(hub.layer(id))))
      const table = Context.get(base, RoutingTable)
      const local = kadIdOfPeer(id)
      // a table with 14 buckets in use whose bucket 3 stays empty
      const EMPTY = 3
      const buckets: Array<BucketInfo> = Array.from({ length: 14 }, (_, cpl) => ({
        cpl,
        size: cpl === EMPTY ? 0 : 5,
        lastRefreshedAt: undefined
      }))
      const looked: Array<number> = []
      const routing = Context.get(base, PeerRouting)
      const context = Context.add(
        Context.add(base, RoutingTable, {
          ...table,
          buckets: Effect.succeed(buckets),
          peerCountForCpl: (cpl: number) => Effect.succeed(cpl === EMPTY ? 0 : 5)
        }),
        PeerRouting,
        {
          ...routing,
          getClosestPeers: (key: Uint8Array) =>
            Effect.sync(() => {
              const target = kadIdOfKey(key)
              // the self lookup is the one whose target is our own Kad ID
              if (commonPrefixLength(target, local) < 256) looked.push(commonPrefixLength(target, local))
              return []
            })
        }
      )
      const refresh = yield* Layer.build(RefreshManager.layer({ autoRefresh: false, fixLowPeers: false })).pipe(
        Effect.provide(context)
      )
      const report = yield* Context.get(refresh, RefreshManager).refresh({ force: true })
      const upTo = 2 * (EMPTY + 1)
      const expected = Array.from({ length: upTo + 1 }, (_, cpl) => cpl)
      expect(looked).toEqual(expected)
      expect(report.buckets.map((b) => b.cpl)).toEqual(expected)
      expect(report.self).toBe("completed")
      // with no empty bucket, every bucket is looked up
      looked.length = 0
      const full = Context.add(context, RoutingTable, {
        ...table,
        buckets: Effect.succeed(buckets),
        peerCountForCpl: () => Effect.succeed(5)
      })
      const refreshFull = yield* Layer.build(RefreshManager.layer({ autoRefresh: false, fixLowPeers: false })).pipe(
        Effect.provide(full)
      )
      yield* Context.get(refreshFull, RefreshManager).refresh({ force: true })
      expect(looked).toEqual(Array.from({ length: buckets.length }, (_, cpl) => cpl))
    })
  )
})
