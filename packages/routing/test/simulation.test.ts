import { describe, expect, it } from "@effect/vitest"
import {
  commonPrefixLength,
  compareBytes,
  compareDistance,
  type KadId,
  kadIdOfKey,
  kadIdOfPeer
} from "@effect-kad/core"
import { Effect, FastCheck as fc } from "effect"
import { pickBucketMembers } from "../src/internal/simulation/filled-tables.js"
import { PeerRouting } from "../src/peer-routing/peer-routing.js"
import { RoutingTable } from "../src/routing-table/routing-table.js"
import { makeSimulation } from "../src/simulation/simulation.js"

const K = 20

/** How many of `ids` fall in each bucket of `self`, by brute force. */
const bucketCounts = (self: KadId, ids: ReadonlyArray<KadId>): Map<number, number> => {
  const counts = new Map<number, number>()
  for (const id of ids) {
    const cpl = commonPrefixLength(self, id)
    if (cpl < 256) counts.set(cpl, (counts.get(cpl) ?? 0) + 1)
  }
  return counts
}

describe("filled routing tables", () => {
  it.prop(
    "picks min(k, servers in the bucket) distinct members of exactly that bucket, for every bucket",
    [
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 400 }),
      fc.integer({ min: 0, max: 399 }),
      fc.integer({ min: 1, max: 25 }),
      fc.integer()
    ],
    ([raw, at, k, seed]) => {
      const ids = raw as Array<KadId>
      const selfIndex = at % ids.length
      const self = ids[selfIndex]
      const order = ids.map((_, i) => i).sort((a, b) => compareBytes(ids[a], ids[b]))
      const sorted = order.map((i) => ids[i])
      const picks = pickBucketMembers(self, true, sorted, order, k, seed)
      const expected = bucketCounts(
        self,
        ids.filter((_, i) => i !== selfIndex)
      )
      expect(new Map(picks.map((p) => [p.cpl, p.members.length]))).toEqual(
        new Map([...expected].map(([cpl, n]) => [cpl, Math.min(k, n)]))
      )
      for (const pick of picks) {
        expect(new Set(pick.members).size).toBe(pick.members.length)
        for (const member of pick.members) {
          expect(member).not.toBe(selfIndex)
          expect(commonPrefixLength(self, ids[member])).toBe(pick.cpl)
        }
      }
    }
  )

  it.scoped(
    "a filled network sends nothing while joining, and its lookups find the true k closest",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 300, join: "filled-tables", clientFraction: 0.1 })
        expect(sim.hub.stats.requests).toBe(0)
        const serverIds = sim.servers.map((s) => kadIdOfPeer(s.id))

        for (const node of sim.nodes.slice(0, 40)) {
          const self = kadIdOfPeer(node.id)
          const held = yield* node.run(Effect.flatMap(RoutingTable, (t) => t.listPeers))
          const expected = bucketCounts(
            self,
            serverIds.filter((id) => compareBytes(id, self) !== 0)
          )
          const actual = new Map<number, number>()
          for (const entry of held) actual.set(entry.cpl, (actual.get(entry.cpl) ?? 0) + 1)
          expect(actual).toEqual(new Map([...expected].map(([cpl, n]) => [cpl, Math.min(K, n)])))
          // clients are never picked
          const clients = new Set(sim.nodes.filter((n) => !sim.servers.includes(n)).map((n) => n.id.toString()))
          expect(held.some((entry) => clients.has(entry.id.toString()))).toBe(false)
        }

        let exact = 0
        const trials = 20
        for (let i = 0; i < trials; i++) {
          const origin = sim.nodes[(i * 37) % sim.nodes.length]
          const key = crypto.getRandomValues(new Uint8Array(32))
          const target = kadIdOfKey(key)
          const closest = yield* origin.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)))
          const truth = sim.servers
            .filter((s) => s !== origin)
            .map((s) => ({ key: s.id.toString(), kad: kadIdOfPeer(s.id) }))
            .sort((a, b) => compareDistance(a.kad, b.kad, target))
            .slice(0, K)
            .map((s) => s.key)
          if (closest.map((p) => p.id.toString()).every((id, j) => id === truth[j]) && closest.length === K) exact++
        }
        expect(exact).toBeGreaterThanOrEqual(Math.floor(trials * 0.95))
      }),
    120_000
  )
})
