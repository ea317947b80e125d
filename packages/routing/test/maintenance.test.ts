import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, MessageType, Network } from "@effect-kad/core"
import { Effect, Layer } from "effect"
import {
  generatePeerIds,
  layerPeerRouting,
  PeerRouting,
  RoutingTable,
  RpcHandlers,
  simulationDefaults
} from "../src/index.js"

/** A node with peer routing; `answers` decides whether it serves FIND_NODE or swallows every request. */
const node = (hub: MemoryNetworkHub, lookupCheckConcurrency: number, answers = true) =>
  Effect.gen(function* () {
    const [id] = yield* generatePeerIds(1)
    const layer = layerPeerRouting({ ...simulationDefaults, lookupCheckConcurrency, requestTimeoutMillis: 300 }).pipe(
      Layer.provideMerge(hub.layer(id))
    )
    const context = yield* Layer.build(layer)
    yield* Effect.provide(
      Effect.gen(function* () {
        const network = yield* Network
        if (answers) {
          const rpc = yield* RpcHandlers
          yield* network.serve(rpc.dispatch)
        } else {
          // advertises the protocol but never answers: a broken or hostile server
          yield* network.serve(() => Effect.succeed(undefined))
        }
      }),
      context
    )
    return { id, context }
  })

describe("routing table maintenance", () => {
  it.scopedLive("with the lookup check, an advertised server enters the table only if it answers FIND_NODE", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const checker = yield* node(hub, 4)
      const good = yield* node(hub, 0)
      const silent = yield* node(hub, 0, false)
      const connect = (peer: { id: typeof good.id }) =>
        Effect.provide(
          Effect.flatMap(Network, (n) => n.connect({ id: peer.id, multiaddrs: [] })),
          checker.context
        )
      yield* connect(good)
      yield* connect(silent)
      yield* Effect.sleep(800)
      const peers = yield* Effect.provide(
        Effect.flatMap(RoutingTable, (t) => t.listPeers),
        checker.context
      )
      expect(peers.map((p) => p.id.toString())).toEqual([good.id.toString()])
    })
  )

  it.scopedLive("a server dialed by one of our requests is admitted by its answer, with no separate check", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const checker = yield* node(hub, 4)
      const [id] = yield* generatePeerIds(1)
      let probes = 0
      const server = yield* Layer.build(
        layerPeerRouting({ ...simulationDefaults, requestTimeoutMillis: 300 }).pipe(Layer.provideMerge(hub.layer(id)))
      )
      yield* Effect.provide(
        Effect.gen(function* () {
          const network = yield* Network
          const rpc = yield* RpcHandlers
          yield* network.serve((from, message) => {
            if (message.type === MessageType.FIND_NODE && message.key !== undefined) {
              if (Buffer.from(message.key).equals(id.toMultihash().bytes)) probes++
            }
            return rpc.dispatch(from, message)
          })
        }),
        server
      )
      const run = <A, E>(effect: Effect.Effect<A, E, Network | RoutingTable | PeerRouting>) =>
        Effect.provide(effect, checker.context)
      // our request dials the server; identify (DhtServerSeen) arrives while it is in flight
      yield* run(
        Effect.flatMap(PeerRouting, (r) =>
          r.request(id, {
            type: MessageType.FIND_NODE,
            key: crypto.getRandomValues(new Uint8Array(32)),
            closerPeers: [],
            providerPeers: []
          })
        )
      )
      yield* Effect.sleep(500)
      expect(probes).toBe(0)
      expect((yield* run(Effect.flatMap(RoutingTable, (t) => t.listPeers))).map((p) => p.id.toString())).toEqual([
        id.toString()
      ])
      // a server seen without any query is checked once the delay has passed
      const other = yield* node(hub, 0)
      yield* run(Effect.flatMap(Network, (n) => n.connect({ id: other.id, multiaddrs: [] })))
      yield* Effect.sleep(500)
      expect((yield* run(Effect.flatMap(RoutingTable, (t) => t.find(other.id))))._tag).toBe("Some")
    })
  )

  it.scopedLive("without the lookup check, every advertised server is admitted", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const trusting = yield* node(hub, 0)
      const silent = yield* node(hub, 0, false)
      yield* Effect.provide(
        Effect.flatMap(Network, (n) => n.connect({ id: silent.id, multiaddrs: [] })),
        trusting.context
      )
      yield* Effect.sleep(50)
      expect(
        yield* Effect.provide(
          Effect.flatMap(RoutingTable, (t) => t.size),
          trusting.context
        )
      ).toBe(1)
      // and a plain request to it times out, as a silent server would
      const outcome = yield* Effect.provide(
        Effect.flatMap(Network, (n) =>
          n.request(silent.id, { type: MessageType.PING, closerPeers: [], providerPeers: [] }, { timeoutMillis: 100 })
        ).pipe(Effect.flip),
        trusting.context
      )
      expect(outcome._tag).toBe("TimeoutError")
    })
  )
})
