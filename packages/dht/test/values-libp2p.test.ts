import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { describe, expect, it } from "@effect/vitest"
import { defaultValidator, Libp2pNetwork, makeRecord, Network, pkKey, publicKeyValidator } from "@effect-kad/core"
import { layerPeerRouting, PeerRouting, RoutingTable, RpcHandlers, simulationDefaults } from "@effect-kad/routing"
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import { identify } from "@libp2p/identify"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { tcp } from "@libp2p/tcp"
import { Clock, Effect, Layer, Option, Schedule, type Scope } from "effect"
import { createLibp2p, type Libp2p } from "libp2p"
import { layerValues, RecordStore, Values } from "../src/values/index.js"
import { bytes, sequenceValidator, text, vKey } from "./values-fixtures.js"

/** A real host on 127.0.0.1 (TCP, Noise, Yamux, Identify), stopped with the scope. */
const makeHost: Effect.Effect<Libp2p, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    createLibp2p({
      addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
  ),
  (host) => Effect.promise(async () => host.stop())
)

/** A DHT node in server mode on `host`: network, peer routing and value storage, serving every handler. */
const makeNode = (host: Libp2p) =>
  Effect.gen(function* () {
    const layer = layerValues({
      maxRecordAge: "36 hours",
      validator: defaultValidator().addValidator("v", sequenceValidator)
    }).pipe(
      Layer.provideMerge(layerPeerRouting({ ...simulationDefaults, requestTimeoutMillis: 5_000 })),
      Layer.provideMerge(Libp2pNetwork.layer(host))
    )
    const context = yield* Layer.build(layer)
    const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof layer>>) =>
      Effect.provide(effect, context)
    // served until the test's scope closes
    yield* Effect.provide(
      Effect.flatMap(Effect.all([Network, RpcHandlers]), ([network, rpc]) => network.serve(rpc.dispatch)),
      context
    )
    return { host, run }
  })

type Node = Effect.Effect.Success<ReturnType<typeof makeNode>>

const eventually = <A>(check: Effect.Effect<A, unknown>) =>
  check.pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("15 seconds"))), Effect.orDie)

const tableSize = (node: Node) => node.run(Effect.flatMap(RoutingTable, (table) => table.size))

/** Four nodes A-B-C-D, each having dialed only its right neighbour, with routing tables holding just neighbours. */
const chain = Effect.gen(function* () {
  const nodes: Array<Node> = []
  for (let i = 0; i < 4; i++) nodes.push(yield* makeNode(yield* makeHost))
  for (let i = 0; i < 3; i++) {
    const next = nodes[i + 1].host
    yield* Effect.promise(() => nodes[i].host.dial(next.getMultiaddrs()[0]))
  }
  // identify tells each side the other serves the DHT; neighbours enter the routing tables
  const expected = [1, 2, 2, 1]
  for (let i = 0; i < 4; i++) {
    yield* eventually(
      Effect.flatMap(tableSize(nodes[i]), (size) =>
        size === expected[i] ? Effect.void : Effect.fail(`node ${i} has ${size} peers`)
      )
    )
  }
  return nodes
})

describe("value storage over real libp2p hosts", () => {
  it.scopedLive(
    "a value put at A is found by D across the chain A-B-C-D",
    () =>
      Effect.gen(function* () {
        const [a, b, c, d] = yield* chain
        const key = vKey("chain")
        // A only knows B, yet the put reaches C and D through the lookup
        const put = yield* a.run(Effect.flatMap(Values, (values) => values.putValue(key, bytes("1:across"))))
        expect(put.stored).toBe(3)
        expect(new Set(put.peers.map(String))).toEqual(new Set([b, c, d].map((n) => n.host.peerId.toString())))

        // D forgets its copy, so reading it means asking the network
        yield* d.run(Effect.flatMap(RecordStore, (store) => store.delete(key)))
        const found = yield* d.run(Effect.flatMap(Values, (values) => values.getRecord(key, { quorum: 1 })))
        expect(text(found.record.value)).toBe("1:across")
        expect(found.fromLocal).toBe(false)
        expect(found.holders.length).toBe(1)

        // without a quorum D hears from A, B and C
        const all = yield* d.run(Effect.flatMap(Values, (values) => values.getRecord(key)))
        expect(new Set(all.holders.map(String))).toEqual(new Set([a, b, c].map((n) => n.host.peerId.toString())))
        // and it learned about A on the way
        const known = yield* d.run(Effect.flatMap(PeerRouting, (routing) => routing.findPeer(a.host.peerId)))
        expect(Option.isSome(known)).toBe(true)
      }),
    60_000
  )

  it.scopedLive(
    "a /pk/ record for the wrong key is rejected by the requester",
    () =>
      Effect.gen(function* () {
        const [a, , c, d] = yield* chain
        const owner = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const impostor = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const key = pkKey(peerIdFromPrivateKey(owner))
        const wrong = publicKeyToProtobuf(impostor.publicKey)
        const right = publicKeyToProtobuf(owner.publicKey)
        // sanity: the validator itself refuses the impostor's key and accepts the owner's
        expect(() => publicKeyValidator.validate(key, wrong)).toThrow()
        publicKeyValidator.validate(key, right)

        const plant = (node: Node, value: Uint8Array) =>
          node.run(
            Effect.gen(function* () {
              const store = yield* RecordStore
              const now = yield* Clock.currentTimeMillis
              yield* store.put(makeRecord(key, value, new Date(now)))
            })
          )
        yield* plant(c, wrong)

        const missing = yield* a.run(Effect.flip(Effect.flatMap(Values, (values) => values.getValue(key))))
        expect(missing._tag).toBe("NotFoundError")

        // with a valid record elsewhere, that one is returned and C's is reported as invalid
        yield* plant(d, right)
        const found = yield* a.run(Effect.flatMap(Values, (values) => values.getRecord(key)))
        expect(Array.from(found.record.value)).toEqual(Array.from(right))
        expect(found.invalid.map(String)).toEqual([c.host.peerId.toString()])
        expect(found.holders.map(String)).toEqual([d.host.peerId.toString()])
        // entry correction replaced C's bad record with the valid one
        const atC = yield* c.run(Effect.flatMap(RecordStore, (store) => store.get(key)))
        expect(Option.map(atC, (r) => Array.from(r.value))).toEqual(Option.some(Array.from(right)))
      }),
    60_000
  )
})
