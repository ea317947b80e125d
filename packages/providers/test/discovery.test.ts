import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { makeSimulation } from "@effect-kad/routing"
import { Chunk, Duration, Effect, Stream } from "effect"
import { ContentRouting, layerContentRouting, namespaceCid } from "../src/index.js"

describe("namespace discovery", () => {
  it.effect("a namespace maps to CIDv1 raw over the sha256 of its UTF-8 name", () =>
    Effect.gen(function* () {
      for (const name of ["", "my-app/chat", "ünïcødé ✓"]) {
        const cid = yield* namespaceCid(name)
        const digest = createHash("sha256").update(Buffer.from(name, "utf8")).digest()
        // version 1, raw (0x55), sha2-256 (0x12), 32 bytes
        expect(Buffer.from(cid.bytes).toString("hex")).toBe(`01551220${digest.toString("hex")}`)
        expect(Buffer.from(cid.multihash.bytes).equals(Buffer.concat([Buffer.from([0x12, 0x20]), digest]))).toBe(true)
      }
    })
  )

  it.scoped(
    "advertise then findPeers finds the advertisers, with the TTL go-libp2p's discovery hands out",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 50 }, layerContentRouting())
        const nodes = sim.nodes
        const advertise = (index: number, ttl?: Duration.DurationInput) =>
          nodes[index]
            .run(
              Effect.flatMap(ContentRouting, (c) => c.advertise("chat-room", ttl === undefined ? undefined : { ttl }))
            )
            .pipe(
              Effect.map(({ ttl, peers }) => {
                // the announcement reached the k closest of 50 servers
                expect(peers).toBe(20)
                return ttl
              })
            )
        const findPeers = (index: number, namespace: string, limit?: number) =>
          nodes[index]
            .run(Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findPeers(namespace, { limit }))))
            .pipe(Effect.map((found) => Chunk.toArray(found).map((p) => p.id.toString())))

        // default and upper bound: 3 hours; shorter requests are honoured
        expect(Duration.toMillis(yield* advertise(4))).toBe(Duration.toMillis(Duration.hours(3)))
        expect(Duration.toMillis(yield* advertise(9, "10 minutes"))).toBe(Duration.toMillis(Duration.minutes(10)))
        expect(Duration.toMillis(yield* advertise(17, "5 hours"))).toBe(Duration.toMillis(Duration.hours(3)))

        const advertisers = [nodes[4], nodes[9], nodes[17]].map((n) => n.id.toString()).sort()
        for (const seeker of [0, 20, 33, 49]) {
          expect((yield* findPeers(seeker, "chat-room")).sort()).toEqual(advertisers)
          expect((yield* findPeers(seeker, "chat-room", 2)).length).toBe(2)
          expect(yield* findPeers(seeker, "another-room")).toEqual([])
        }
        // the advertisement is an ordinary provider record of the namespace's CID
        const cid = yield* namespaceCid("chat-room")
        const viaProviders = yield* nodes[30].run(
          Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findProviders(cid)))
        )
        expect(
          Chunk.toArray(viaProviders)
            .map((p) => p.id.toString())
            .sort()
        ).toEqual(advertisers)
      }),
    60_000
  )

  it.scoped("a short provide validity bounds the advertised TTL", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation(
        { size: 4 },
        layerContentRouting({ provideValidity: "1 hour", reprovideInterval: "30 minutes" })
      )
      const { ttl, peers } = yield* sim.nodes[0].run(Effect.flatMap(ContentRouting, (c) => c.advertise("short")))
      expect(peers).toBe(3)
      expect(Duration.toMillis(ttl)).toBe(Duration.toMillis(Duration.hours(1)))
      const error = yield* Effect.flip(
        sim.nodes[0].run(Effect.flatMap(ContentRouting, (c) => Stream.runDrain(c.findPeers("short", { limit: 1.5 }))))
      )
      expect(error._tag).toBe("InvalidOptionError")
      // a reprovide interval that lets records lapse is refused
      const refused = yield* Effect.flip(
        makeSimulation({ size: 1 }, layerContentRouting({ provideValidity: "1 hour", reprovideInterval: "2 hours" }))
      )
      expect(refused._tag).toBe("InvalidOptionError")
    })
  )
})
