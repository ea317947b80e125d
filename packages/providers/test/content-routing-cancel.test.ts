import { describe, expect, it } from "@effect/vitest"
import { compareDistance, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import { makeSimulation, RoutingTable, type SimulatedNode, simulationDefaults } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { Chunk, Effect, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { ContentRouting, layerContentRouting, type ProviderStoreService } from "../src/index.js"

type Node = SimulatedNode<ContentRouting | ProviderStoreService>

/** One-way link delay between 20 and 150 ms, fixed per pair of peers. */
const pairLatency = (a: PeerId, b: PeerId): number => {
  const [x, y] = [a.toString(), b.toString()].sort()
  let hash = 2166136261
  for (const ch of x + y) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619)
  return 20 + ((hash >>> 0) % 131)
}

describe("findProviders is a lazy, cancellable stream", () => {
  it.scopedLive(
    "nothing is asked before the stream runs, and Stream.take ends the lookup",
    () =>
      Effect.gen(function* () {
        let slow = false
        const sim = yield* makeSimulation(
          { size: 60, network: { latencyMillis: (from, to) => (slow ? pairLatency(from, to) : 0) } },
          layerContentRouting()
        )
        const nodes: ReadonlyArray<Node> = sim.nodes
        const cid = CID.createV1(raw.code, yield* Effect.promise(async () => sha256.digest(new Uint8Array([1, 2, 3]))))
        const key = cid.multihash.bytes
        const target = kadIdOfKey(key)
        const provider = nodes[0]
        yield* provider.run(Effect.flatMap(ContentRouting, (c) => c.provide(cid)))

        // a seeker without the record whose first queries include a holder
        const ranked = nodes
          .filter((n) => n !== provider)
          .sort((a, b) => compareDistance(kadIdOfPeer(a.id), kadIdOfPeer(b.id), target))
        const holders = new Set(ranked.slice(0, 20).map((n) => n.id.toString()))
        let seeker: Node | undefined
        for (const candidate of ranked.slice(20)) {
          const seeds = yield* candidate.run(
            Effect.flatMap(RoutingTable, (t) => t.nearest(target, simulationDefaults.alpha))
          )
          if (seeds.some((seed) => holders.has(seed.id.toString()))) {
            seeker = candidate
            break
          }
        }
        if (seeker === undefined) return expect.fail("no node reaches a holder in its first queries")
        slow = true
        const stream = yield* seeker.run(Effect.map(ContentRouting, (c) => c.findProviders(cid)))

        const idle = sim.hub.stats.requests
        yield* Effect.sleep("300 millis")
        expect(sim.hub.stats.requests).toBe(idle)

        const fullStart = sim.hub.stats.requests
        const all = yield* Stream.runCollect(stream)
        const full = sim.hub.stats.requests - fullStart
        expect(Chunk.toArray(all).map((p) => p.id.toString())).toEqual([provider.id.toString()])
        // the follow-up phase has every one of the 20 closest answer
        expect(full).toBeGreaterThanOrEqual(20)

        const takeStart = sim.hub.stats.requests
        const first = yield* Stream.runCollect(Stream.take(stream, 1))
        const atEnd = sim.hub.stats.requests - takeStart
        expect(Chunk.size(first)).toBe(1)
        yield* Effect.sleep("1 second")
        // once the consumer stopped, the lookup sent nothing more
        expect(sim.hub.stats.requests - takeStart).toBe(atEnd)
        expect(atEnd).toBeLessThan(full)
      }),
    60_000
  )
})
