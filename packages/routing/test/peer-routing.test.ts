import { describe, expect, it } from "@effect/vitest"
import { compareDistance, kadIdOfKey, kadIdOfPeer, Network } from "@effect-kad/core"
import { Effect, Option, Stream } from "effect"
import { makeSimulation, NetworkSizeEstimator, PeerRouting, RoutingTable } from "../src/index.js"

describe("peer routing on a simulated network", () => {
  it.scoped(
    "nodes that joined through bootstrap find the true k closest of 300 peers for at least 95% of targets",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 300 })
        const trials = 40
        let exact = 0
        for (let t = 0; t < trials; t++) {
          const origin = sim.nodes[(t * 131) % sim.nodes.length]
          const key = crypto.getRandomValues(new Uint8Array(32))
          const target = kadIdOfKey(key)
          const closest = yield* origin.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)))
          const truth = sim.nodes
            .filter((n) => n !== origin)
            .map((n) => n.id)
            .sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
            .slice(0, 20)
            .map(String)
          if (JSON.stringify(closest.map((p) => p.id.toString())) === JSON.stringify(truth)) exact++
        }
        expect(exact / trials).toBeGreaterThanOrEqual(0.95)
        // routing tables were filled by bootstrap alone
        const sizes = yield* Effect.forEach(sim.nodes.slice(0, 20), (n) =>
          n.run(Effect.flatMap(RoutingTable, (t) => t.size))
        )
        expect(Math.min(...sizes)).toBeGreaterThan(20)
      }),
    120_000
  )

  it.scoped("findPeer finds a node's addresses through others and returns None for an unknown peer", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 120 })
      const origin = sim.nodes[5]
      const wanted = sim.nodes[97]
      const found = yield* origin.run(
        Effect.gen(function* () {
          const routing = yield* PeerRouting
          return yield* routing.findPeer(wanted.id)
        })
      )
      expect(Option.isSome(found)).toBe(true)
      const addrs = Option.getOrThrow(found).multiaddrs.map(String)
      const expected = yield* wanted.run(Effect.flatMap(Network, (n) => n.selfInfo))
      expect(addrs).toEqual(expected.multiaddrs.map(String))

      const stranger = (yield* makeSimulation({ size: 1 })).nodes[0].id
      const missing = yield* origin.run(Effect.flatMap(PeerRouting, (r) => r.findPeer(stranger)))
      expect(Option.isNone(missing)).toBe(true)
    })
  )

  it.scoped("estimates the network size from completed lookups", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 300 })
      const origin = sim.nodes[0]
      const estimate = yield* origin.run(
        Effect.gen(function* () {
          const routing = yield* PeerRouting
          for (let i = 0; i < 30; i++) yield* routing.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)))
          return yield* Effect.flatMap(NetworkSizeEstimator, (e) => e.estimate)
        })
      )
      expect(estimate).toBeGreaterThan(300 * 0.6)
      expect(estimate).toBeLessThan(300 * 1.5)
    })
  )

  it.scoped(
    "the stream form of getClosestPeers feeds the size estimate and marks its bucket refreshed, as the effect form does",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 300 })
        const origin = sim.nodes[0]
        const { estimate, refreshed } = yield* origin.run(
          Effect.gen(function* () {
            const routing = yield* PeerRouting
            const table = yield* RoutingTable
            const before = yield* table.buckets
            expect(before.every((b) => b.lastRefreshedAt === undefined)).toBe(true)
            for (let i = 0; i < 30; i++) {
              yield* Stream.runDrain(routing.getClosestPeersStream(crypto.getRandomValues(new Uint8Array(32))))
            }
            const after = yield* table.buckets
            return {
              estimate: yield* Effect.flatMap(NetworkSizeEstimator, (e) => e.estimate),
              refreshed: after.filter((b) => b.lastRefreshedAt !== undefined).map((b) => b.cpl)
            }
          })
        )
        expect(estimate).toBeGreaterThan(300 * 0.6)
        expect(estimate).toBeLessThan(300 * 1.5)
        // random targets fall in bucket 0 half of the time
        expect(refreshed).toContain(0)
      })
  )

  it.scoped("client-mode nodes query the network but never enter routing tables", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 100, clientFraction: 0.2 })
      const clients = sim.nodes.filter((n) => !sim.servers.includes(n)).map((n) => n.id.toString())
      expect(clients.length).toBe(20)
      for (const node of sim.nodes) {
        const peers = yield* node.run(Effect.flatMap(RoutingTable, (t) => t.listPeers))
        for (const p of peers) expect(clients).not.toContain(p.id.toString())
      }
      // a client still gets answers
      const client = sim.nodes.at(-1)!
      const closest = yield* client.run(
        Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(crypto.getRandomValues(new Uint8Array(32))))
      )
      expect(closest.length).toBe(20)
    })
  )
})
