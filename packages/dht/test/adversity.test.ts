/**
 * Operations on a network where 30% of the servers keep their connections
 * but never answer, as many peers of the public DHT do.
 */
import { describe, expect, it } from "@effect/vitest"
import { kadIdOfKey, Network } from "@effect-kad/core"
import { ContentRouting, layerContentRouting, ProviderStoreService } from "@effect-kad/providers"
import { makeSimulation, PeerRouting, RoutingTable } from "@effect-kad/routing"
import { Chunk, Effect, Layer, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { layerValues, Values } from "../src/values/index.js"
import { bytes, closestNodes, testValidator, vKey } from "./values-fixtures.js"

const SIZE = 100
const SILENT_SHARE = 0.3
const REQUEST_TIMEOUT_MILLIS = 8_000

const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))))

const network = makeSimulation(
  {
    size: SIZE,
    join: "filled-tables",
    network: { latencyMillis: () => 5 + Math.floor(Math.random() * 15) },
    requestTimeoutMillis: REQUEST_TIMEOUT_MILLIS
  },
  Layer.merge(layerValues({ maxRecordAge: "36 hours", validator: testValidator() }), layerContentRouting())
)

describe("30% silent servers", () => {
  it.scopedLive(
    "lookups stay within their deadlines, writes land on the live closest, and silent peers leave the tables",
    () =>
      Effect.gen(function* () {
        const sim = yield* network
        const silent = new Set(sim.nodes.filter((_, i) => i % 10 < SILENT_SHARE * 10).map((n) => n.id.toString()))
        for (const node of sim.nodes)
          if (silent.has(node.id.toString())) sim.hub.setBehaviour(node.id, { _tag: "silent" })
        const live = sim.nodes.filter((n) => !silent.has(n.id.toString()))
        const liveClosest = (key: Uint8Array, from: (typeof live)[number]) =>
          closestNodes(
            live.filter((n) => n !== from),
            key,
            20
          ).map((n) => n.id.toString())

        // The network notices: each live server runs one self lookup, as its
        // refresh does, and drops the silent peers that time out. Before that,
        // answers still name silent peers among their k, and the live peers
        // just beyond them are known to nobody who answers.
        yield* Effect.forEach(
          live,
          (node) => node.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(node.id.toMultihash().bytes))),
          { concurrency: 10, discard: true }
        )
        yield* Effect.sleep(REQUEST_TIMEOUT_MILLIS + 500)

        // getClosestPeers: the live closest, each lookup well under the request timeout
        const askers = live.filter((_, i) => i % 7 === 0).slice(0, 8)
        for (const asker of askers) {
          const key = crypto.getRandomValues(new Uint8Array(32))
          const started = Date.now()
          const closest = yield* asker.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)))
          const took = Date.now() - started
          const truth = new Set(liveClosest(key, asker))
          const found = closest.filter((p) => truth.has(p.id.toString())).length
          expect(found, `lookup from ${asker.id} found ${found} of the 20 live closest`).toBeGreaterThanOrEqual(19)
          expect(closest.some((p) => silent.has(p.id.toString()))).toBe(false)
          // a silent peer among the closest would hold a lookup for a whole request timeout; deadlines keep it far below
          expect(took).toBeLessThan(REQUEST_TIMEOUT_MILLIS / 2)
        }

        // putValue lands on at least 18 of the 20 live closest
        const putter = live[3]
        const key = vKey("adversity")
        const put = yield* putter.run(Effect.flatMap(Values, (v) => v.putValue(key, bytes("1:hello"))))
        const truth = new Set(liveClosest(key, putter))
        expect(put.peers.filter((p) => truth.has(p.toString())).length).toBeGreaterThanOrEqual(18)

        // provide lands on at least 18 of the 20 live closest
        const provider = live[5]
        const cid = yield* cidOf("adversity")
        const delivered = yield* provider.run(Effect.flatMap(ContentRouting, (c) => c.provide(cid)))
        expect(delivered).toBeGreaterThanOrEqual(18)
        const holders = yield* Effect.forEach(
          closestNodes(
            live.filter((n) => n !== provider),
            cid.multihash.bytes,
            20
          ),
          (node) =>
            node.run(
              Effect.flatMap(ProviderStoreService, (s) => s.getProviders(cid.multihash.bytes)).pipe(
                Effect.map((providers) => providers.some((p) => p.id.equals(provider.id)))
              )
            )
        )
        expect(holders.filter(Boolean).length).toBeGreaterThanOrEqual(18)

        // the silent peers a lookup asked leave the asker's table once their requests time out
        const watcher = live[7]
        const target = crypto.getRandomValues(new Uint8Array(32))
        const events = yield* watcher.run(
          Effect.flatMap(PeerRouting, (r) => Stream.runCollect(r.getClosestPeersStream(target)))
        )
        const askedSilent = Chunk.toArray(events)
          .filter((e) => e._tag === "QuerySent" && silent.has(e.peer.toString()))
          .map((e) => (e._tag === "QuerySent" ? e.peer : undefined))
        expect(askedSilent.length).toBeGreaterThan(0)
        yield* Effect.sleep(REQUEST_TIMEOUT_MILLIS + 1_000)
        const stillThere = yield* watcher.run(
          Effect.flatMap(RoutingTable, (t) =>
            Effect.forEach(askedSilent, (peer) =>
              peer === undefined ? Effect.succeed(false) : Effect.map(t.find(peer), (o) => o._tag === "Some")
            )
          )
        )
        expect(stillThere.filter(Boolean)).toEqual([])
        // and the network still reaches them: nothing here was disconnected
        expect(yield* watcher.run(Effect.flatMap(Network, (n) => n.isConnected(askedSilent[0]!)))).toBe(true)
        expect(kadIdOfKey(target).length).toBe(32)
      }),
    120_000
  )
})
