import { describe, expect, it, layer } from "@effect/vitest"
import { type Message, MessageType, makeRecord, Network, recordToWire } from "@effect-kad/core"
import { makeSimulation, RpcHandlers, type Simulation } from "@effect-kad/routing"
import { Chunk, Clock, Context, type Duration, Effect, Either, Layer, Option, Stream } from "effect"
import { layerValues, RecordStore, type RecordValidator, Values } from "../src/values/index.js"
import {
  bytes,
  closestNodes,
  plant,
  sequenceOf,
  storedText,
  testValidator,
  text,
  type ValueNode,
  vKey
} from "./values-fixtures.js"

const simulation = (size: number, maxRecordAge: Duration.DurationInput = "36 hours") =>
  makeSimulation({ size }, layerValues({ maxRecordAge, validator: testValidator() }))

/** A node that is not among the `k` (here 30, to be safe) closest to `key`, so it must search the network. */
const farFrom = (nodes: ReadonlyArray<ValueNode>, key: Uint8Array, skip = 0): ValueNode => {
  const near = new Set(closestNodes(nodes, key, 30).map((n) => n.id.toString()))
  return nodes.filter((n) => !near.has(n.id.toString()))[skip]
}

const values = Effect.map(Values, (v) => v)

/** One 100-node network shared by the tests below; each test uses its own keys. */
class Sim extends Context.Tag("test/Sim")<Sim, Simulation<RecordValidator | RecordStore | Values>>() {}

layer(Layer.scoped(Sim, simulation(100)), { timeout: "60 seconds" })(
  "value storage on a simulated network of 100 nodes",
  (it) => {
    it.effect(
      "a value put at one node is read at many others, and lands on the closest peers",
      () =>
        Effect.gen(function* () {
          const sim = yield* Sim
          const key = vKey("hello")
          const putter = farFrom(sim.nodes, key)
          const put = yield* putter.run(Effect.flatMap(values, (v) => v.putValue(key, bytes("1:world"))))
          expect(put.stored).toBe(20)
          expect(put.peers.length).toBe(20)

          // the peers that accepted are the 20 closest to the key (the putter itself excluded)
          const truth = closestNodes(
            sim.nodes.filter((n) => n !== putter),
            key,
            20
          ).map((n) => n.id.toString())
          expect(new Set(put.peers.map(String))).toEqual(new Set(truth))

          const readers = sim.nodes.filter((n) => n !== putter).filter((_, i) => i % 9 === 0)
          expect(readers.length).toBeGreaterThanOrEqual(10)
          for (const reader of readers) {
            const value = yield* reader.run(Effect.flatMap(values, (v) => v.getValue(key)))
            expect(text(value)).toBe("1:world")
          }
        }),
      60_000
    )

    it.effect("quorum 1 answers from the local store without traffic; quorum 3 stops after 3 values", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const key = vKey("quorum")
        const putter = farFrom(sim.nodes, key)
        yield* putter.run(Effect.flatMap(values, (v) => v.putValue(key, bytes("4:q"))))

        const before = sim.hub.stats.requests
        const local = yield* putter.run(Effect.flatMap(values, (v) => v.getRecord(key, { quorum: 1 })))
        expect(sim.hub.stats.requests).toBe(before)
        expect(text(local.record.value)).toBe("4:q")
        expect(local.responses).toBe(1)
        expect(local.fromLocal).toBe(true)
        expect(Option.isNone(local.lookup)).toBe(true)

        const reader = farFrom(sim.nodes, key, 1)
        const three = yield* reader.run(Effect.flatMap(values, (v) => v.getRecord(key, { quorum: 3 })))
        expect(text(three.record.value)).toBe("4:q")
        expect(three.responses).toBe(3)
        expect(three.holders.length).toBe(3)
        expect(Option.getOrThrow(three.lookup).reason).toBe("stopped")

        // without a quorum the lookup runs to its end and hears from every holder it reaches
        const all = yield* reader.run(Effect.flatMap(values, (v) => v.getRecord(key)))
        expect(Option.getOrThrow(all.lookup).reason).not.toBe("stopped")
        expect(all.responses).toBeGreaterThanOrEqual(20)

        // the putter holds it locally: its local copy counts towards quorum 3
        const withLocal = yield* putter.run(Effect.flatMap(values, (v) => v.getRecord(key, { quorum: 3 })))
        expect(withLocal.responses).toBe(3)
        expect(withLocal.holders.length).toBe(2)
      })
    )

    it.effect(
      "conflicting valid records: the best wins and every outdated or empty holder queried is corrected",
      () =>
        Effect.gen(function* () {
          const sim = yield* Sim
          const key = vKey("conflict")
          const reader = farFrom(sim.nodes, key)
          const holders = closestNodes(sim.nodes, key, 20)
          // v1 on 10 holders, v2 (better) on 4, nothing on the other 6
          for (const node of holders.slice(0, 10)) yield* plant(node, key, bytes("1:old"))
          for (const node of holders.slice(10, 14)) yield* plant(node, key, bytes("2:new"))

          const result = yield* reader.run(Effect.flatMap(values, (v) => v.getRecord(key)))
          expect(text(result.record.value)).toBe("2:new")
          expect(new Set(result.holders.map(String))).toEqual(
            new Set(holders.slice(10, 14).map((n) => n.id.toString()))
          )
          // the 10 outdated and the 6 empty closest peers accepted the correction
          expect(result.corrected.length).toBe(16)
          for (const node of holders) expect(yield* storedText(node, key)).toBe("2:new")
          // getting does not store at the reader, which held nothing
          expect(yield* storedText(reader, key)).toBeUndefined()
        }),
      60_000
    )

    it.effect("a reader whose local copy is outdated updates it", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const key = vKey("local-outdated")
        const reader = farFrom(sim.nodes, key)
        yield* plant(reader, key, bytes("1:mine"))
        for (const node of closestNodes(sim.nodes, key, 20)) yield* plant(node, key, bytes("3:theirs"))
        const values3 = yield* reader.run(Effect.flatMap(values, (v) => Stream.runCollect(v.searchValue(key))))
        expect(Chunk.toReadonlyArray(values3).map(text)).toEqual(["1:mine", "3:theirs"])
        expect(yield* storedText(reader, key)).toBe("3:theirs")
      })
    )

    it.effect("invalid records planted on holders are served but never returned by getValue", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const key = vKey("poisoned")
        const reader = farFrom(sim.nodes, key)
        const holders = closestNodes(sim.nodes, key, 20)
        for (const node of holders.slice(0, 6)) yield* plant(node, key, bytes("garbage without a sequence"))
        for (const node of holders.slice(6, 9)) yield* plant(node, key, bytes("1:good"))

        // a poisoned holder really serves the garbage: the requester is the one filtering it
        const served = yield* reader.run(
          Effect.flatMap(Network, (network) =>
            network.request(holders[0].id, {
              type: MessageType.GET_VALUE,
              key: key as Uint8Array<ArrayBuffer>,
              closerPeers: [],
              providerPeers: []
            })
          )
        )
        expect(text(served.record?.value ?? new Uint8Array())).toBe("garbage without a sequence")

        const result = yield* reader.run(Effect.flatMap(values, (v) => v.getRecord(key)))
        expect(text(result.record.value)).toBe("1:good")
        expect(new Set(result.invalid.map(String))).toEqual(new Set(holders.slice(0, 6).map((n) => n.id.toString())))
        expect(result.responses).toBe(3)
        // correction replaced the garbage with the valid record
        for (const node of holders.slice(0, 6)) expect(yield* storedText(node, key)).toBe("1:good")

        // with nothing valid anywhere, the get fails with NotFoundError
        const onlyBad = vKey("only-bad")
        for (const node of closestNodes(sim.nodes, onlyBad, 20)) yield* plant(node, onlyBad, bytes("nope"))
        const searcher = farFrom(sim.nodes, onlyBad)
        const missing = yield* searcher.run(Effect.flip(Effect.flatMap(values, (v) => v.getValue(onlyBad))))
        expect(missing._tag).toBe("NotFoundError")
        const streamed = yield* searcher.run(
          Effect.flatMap(values, (v) => Effect.either(Stream.runCollect(v.searchValue(onlyBad))))
        )
        expect(Either.isLeft(streamed) && streamed.left._tag).toBe("NotFoundError")
      })
    )

    it.effect("searchValue yields ever better values and ends with the best", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const key = vKey("search")
        const reader = farFrom(sim.nodes, key)
        yield* plant(reader, key, bytes("1:local"))
        // better and better values the closer a node is to the key, so a lookup meets them in rising order mostly,
        // but ties and reversals happen: the stream must still only ever go up
        const ranked = closestNodes(
          sim.nodes.filter((n) => n !== reader),
          key,
          60
        )
        for (let i = 0; i < ranked.length; i++) {
          yield* plant(ranked[i], key, bytes(`${60 - i + 1}:from-${i}`))
        }
        const seen = Chunk.toReadonlyArray(
          yield* reader.run(Effect.flatMap(values, (v) => Stream.runCollect(v.searchValue(key))))
        )
        expect(seen.length).toBeGreaterThanOrEqual(2)
        expect(text(seen[0])).toBe("1:local")
        const sequences = seen.map((v) => sequenceOf(v) ?? -1)
        for (let i = 1; i < sequences.length; i++) expect(sequences[i]).toBeGreaterThan(sequences[i - 1])
        expect(text(seen[seen.length - 1])).toBe("61:from-0")

        // taking only the first value ends the search early
        const first = yield* reader.run(
          Effect.flatMap(values, (v) => Stream.runCollect(Stream.take(v.searchValue(key), 1)))
        )
        expect(Chunk.size(first)).toBe(1)
      })
    )

    it.effect("an invalid record is refused by putValue before any network traffic", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const node = sim.nodes[7]
        const before = { ...sim.hub.stats }
        const refused = yield* node.run(Effect.flip(Effect.flatMap(values, (v) => v.putValue(vKey("bad"), bytes("x")))))
        expect(refused._tag).toBe("InvalidRecordError")
        const unknownNamespace = yield* node.run(
          Effect.flip(Effect.flatMap(values, (v) => v.putValue(bytes("/other/x"), bytes("1:x"))))
        )
        expect(unknownNamespace._tag).toBe("InvalidRecordError")
        expect(sim.hub.stats.requests).toBe(before.requests)
        expect(sim.hub.stats.oneWay).toBe(before.oneWay)
        expect(yield* storedText(node, vKey("bad"))).toBeUndefined()

        // an older value than the one held locally is refused too, also without traffic
        yield* plant(node, vKey("newer"), bytes("5:held"))
        const older = yield* node.run(
          Effect.flip(Effect.flatMap(values, (v) => v.putValue(vKey("newer"), bytes("4:x"))))
        )
        expect(older._tag).toBe("InvalidRecordError")
        expect(sim.hub.stats.requests).toBe(before.requests)
        expect(yield* storedText(node, vKey("newer"))).toBe("5:held")
      })
    )

    it.effect("when every peer holds a better value, putValue fails with ReplicationError and nothing is lost", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const key = vKey("contested")
        const putter = farFrom(sim.nodes, key)
        const holders = closestNodes(sim.nodes, key, 20)
        for (const node of holders) yield* plant(node, key, bytes("9:incumbent"))
        const error = yield* putter.run(Effect.flip(Effect.flatMap(values, (v) => v.putValue(key, bytes("5:x")))))
        expect(error._tag).toBe("ReplicationError")
        if (error._tag !== "ReplicationError") return
        expect(error.attempted).toBe(20)
        expect(error.accepted).toBe(0)
        for (const node of holders) expect(yield* storedText(node, key)).toBe("9:incumbent")
        // the putter keeps its own copy
        expect(yield* storedText(putter, key)).toBe("5:x")
      })
    )

    it.effect("the PUT_VALUE handler rejects a record whose key differs from the message key", () =>
      Effect.gen(function* () {
        const sim = yield* Sim
        const [server, client] = sim.nodes
        const messageKey = vKey("handler-a")
        const recordKey = vKey("handler-b")
        yield* plant(server, messageKey, bytes("1:kept"))
        // the sender's stamp; the server must stamp records with its own clock instead
        const now = new Date("2001-02-03T04:05:06.789Z")
        const put = (key: Uint8Array, record: ReturnType<typeof recordToWire>): Message => ({
          type: MessageType.PUT_VALUE,
          key: key as Uint8Array<ArrayBuffer>,
          record,
          closerPeers: [],
          providerPeers: []
        })
        const dispatch = (message: Message) =>
          server.run(Effect.flatMap(RpcHandlers, (rpc) => rpc.dispatch(client.id, message)))

        const mismatched = yield* Effect.flip(
          dispatch(put(messageKey, recordToWire(makeRecord(recordKey, bytes("9:evil"), now))))
        )
        expect(mismatched._tag).toBe("RequestRefusedError")
        expect(yield* storedText(server, messageKey)).toBe("1:kept")
        expect(yield* storedText(server, recordKey)).toBeUndefined()

        // an invalid record changes nothing either
        const invalid = yield* Effect.flip(
          dispatch(put(messageKey, recordToWire(makeRecord(messageKey, bytes("no sequence"), now))))
        )
        expect(invalid._tag).toBe("RequestRefusedError")
        expect(yield* storedText(server, messageKey)).toBe("1:kept")

        // a better valid record is stored and the request echoed; a worse one is answered with the stored record
        const better = put(messageKey, recordToWire(makeRecord(messageKey, bytes("2:better"), now)))
        const echoed = yield* dispatch(better)
        expect(echoed).toEqual(better)
        expect(yield* storedText(server, messageKey)).toBe("2:better")
        const worse = yield* dispatch(put(messageKey, recordToWire(makeRecord(messageKey, bytes("1:worse"), now))))
        expect(text(worse?.record?.value ?? new Uint8Array())).toBe("2:better")
        expect(yield* storedText(server, messageKey)).toBe("2:better")

        // GET_VALUE with an empty key is refused; with a key it gets the record and closer peers
        const empty = yield* Effect.flip(
          dispatch({
            type: MessageType.GET_VALUE,
            key: new Uint8Array(),
            closerPeers: [],
            providerPeers: []
          })
        )
        expect(empty._tag).toBe("RequestRefusedError")
        const got = yield* dispatch({
          type: MessageType.GET_VALUE,
          key: messageKey as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: []
        })
        expect(text(got?.record?.value ?? new Uint8Array())).toBe("2:better")
        expect(got?.closerPeers.length).toBeGreaterThan(0)
        // stored records keep the time they arrived here, not the sender's
        const stored = yield* server.run(Effect.flatMap(RecordStore, (s) => s.get(messageKey)))
        expect(Option.getOrThrow(stored).timeReceived.getTime()).toBe(yield* Clock.currentTimeMillis)
        expect(Option.getOrThrow(stored).timeReceived.getTime()).not.toBe(now.getTime())
      })
    )
  }
)

describe("value storage on its own simulated networks", () => {
  it.scoped("with no peer at all, putValue fails but keeps the local copy", () =>
    Effect.gen(function* () {
      const sim = yield* simulation(1)
      const [alone] = sim.nodes
      const key = vKey("lonely")
      const error = yield* alone.run(Effect.flip(Effect.flatMap(values, (v) => v.putValue(key, bytes("1:me")))))
      expect(error._tag).toBe("ReplicationError")
      if (error._tag === "ReplicationError") {
        expect(error.attempted).toBe(0)
        expect(error.message).toContain("failed to find any peer")
      }
      const value = yield* alone.run(Effect.flatMap(values, (v) => v.getValue(key)))
      expect(text(value)).toBe("1:me")
      // minPeers must be at least 1
      const options = yield* alone.run(
        Effect.flip(Effect.flatMap(values, (v) => v.putValue(key, bytes("1:me"), { minPeers: 0 })))
      )
      expect(options._tag).toBe("InvalidOptionError")
    })
  )

  // live clock with a short age: TestClock.adjust over a 60-node simulation is slower than just waiting
  it.scopedLive("records older than maxRecordAge are gone, from the store and from the network", () =>
    Effect.gen(function* () {
      const sim = yield* simulation(60, "1500 millis")
      const key = vKey("ephemeral")
      const putter = farFrom(sim.nodes, key)
      yield* putter.run(Effect.flatMap(values, (v) => v.putValue(key, bytes("1:brief"))))
      // quorum 1 stops at the first holder, so no entry correction re-stamps anything
      const reader = farFrom(sim.nodes, key, 1)
      const read = reader.run(Effect.flatMap(values, (v) => v.getValue(key, { quorum: 1 })))
      expect(text(yield* read)).toBe("1:brief")
      yield* Effect.sleep("1700 millis")
      const gone = yield* reader.run(Effect.flip(Effect.flatMap(values, (v) => v.getValue(key))))
      expect(gone._tag).toBe("NotFoundError")
      for (const node of [putter, ...closestNodes(sim.nodes, key, 20)]) {
        expect(yield* storedText(node, key)).toBeUndefined()
      }
    })
  )
})
