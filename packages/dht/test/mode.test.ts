import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, MessageType, Network } from "@effect-kad/core"
import { DHTConfig } from "@effect-kad/options"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Chunk, Effect, Fiber, Layer, Queue, Stream } from "effect"
import { Dht, DhtMode, isPublicAddress, type Reachability, reachabilityOf } from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

const nodeLayer = (
  hub: MemoryNetworkHub,
  mode: "client" | "server" | "auto",
  reachability?: Stream.Stream<Reachability>
) =>
  Effect.gen(function* () {
    const config = yield* DHTConfig.fromOptions({ mode, autoRefresh: false, filterLocalhostInResponses: false })
    const id = yield* newPeerId
    return { id, layer: Dht.layerWith(config, hub.layer(id), reachability) }
  })

describe("modes", () => {
  it("classifies addresses: loopback, private and CGNAT ranges are not public", () => {
    expect(isPublicAddress(multiaddr("/ip4/127.0.0.1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip4/10.1.2.3/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip4/172.20.0.1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip4/192.168.1.1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip4/100.64.0.1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip6/::1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip6/fd00::1/tcp/1"))).toBe(false)
    expect(isPublicAddress(multiaddr("/ip4/1.2.3.4/tcp/1"))).toBe(true)
    expect(isPublicAddress(multiaddr("/ip6/2001:db8::1/tcp/1"))).toBe(true)
    expect(isPublicAddress(multiaddr("/dns4/example.org/tcp/1"))).toBe(true)
    expect(reachabilityOf([multiaddr("/ip4/127.0.0.1/tcp/1"), multiaddr("/ip4/8.8.8.8/tcp/1")])).toBe("public")
    expect(reachabilityOf([])).toBe("private")
  })

  it.scopedLive("auto mode is a client until reachability is public, then a server, and back; peers follow", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const signals = yield* Queue.unbounded<Reachability>()
      const auto = yield* nodeLayer(hub, "auto", Stream.fromQueue(signals))
      const observer = yield* nodeLayer(hub, "server")
      const autoCtx = yield* Layer.build(auto.layer)
      const observerCtx = yield* Layer.build(observer.layer)
      const run = <A, E>(ctx: typeof autoCtx, effect: Effect.Effect<A, E, Dht | DhtMode | RoutingTable | Network>) =>
        Effect.provide(effect, ctx)

      const changes = yield* run(
        autoCtx,
        Effect.flatMap(DhtMode, (m) => m.changes.pipe(Stream.take(3), Stream.runCollect))
      ).pipe(Effect.fork)
      expect(
        yield* run(
          autoCtx,
          Effect.flatMap(DhtMode, (m) => m.current)
        )
      ).toBe("client")
      // the observer talks to the auto node: a client is not added to its table
      yield* run(
        observerCtx,
        Effect.flatMap(Network, (n) => n.connect({ id: auto.id, multiaddrs: [] }))
      )
      yield* Effect.sleep(20)
      expect(
        yield* run(
          observerCtx,
          Effect.flatMap(RoutingTable, (t) => t.size)
        )
      ).toBe(0)

      yield* Queue.offer(signals, "public")
      yield* Effect.sleep(50)
      expect(
        yield* run(
          autoCtx,
          Effect.flatMap(DhtMode, (m) => m.current)
        )
      ).toBe("server")
      expect(
        yield* run(
          observerCtx,
          Effect.flatMap(RoutingTable, (t) => t.size)
        )
      ).toBe(1)

      yield* Queue.offer(signals, "private")
      yield* Effect.sleep(50)
      expect(
        yield* run(
          autoCtx,
          Effect.flatMap(DhtMode, (m) => m.current)
        )
      ).toBe("client")
      expect(
        yield* run(
          observerCtx,
          Effect.flatMap(RoutingTable, (t) => t.size)
        )
      ).toBe(0)
      expect(Chunk.toArray(yield* Fiber.join(changes))).toEqual(["client", "server", "client"])
    })
  )

  it.scopedLive("client mode never serves; a server-mode node answers and can be switched by hand", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const client = yield* nodeLayer(hub, "client")
      const server = yield* nodeLayer(hub, "server")
      const clientCtx = yield* Layer.build(client.layer)
      const serverCtx = yield* Layer.build(server.layer)
      // the client can query the server
      const closest = yield* Effect.provide(
        Effect.gen(function* () {
          const table = yield* RoutingTable
          yield* table.tryAdd({ id: server.id, multiaddrs: [] })
          const dht = yield* Dht
          return yield* dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)))
        }),
        clientCtx
      )
      expect(closest.map((p) => p.id.toString())).toEqual([server.id.toString()])
      // the server cannot query the client
      const refused = yield* Effect.provide(
        Effect.flatMap(Network, (n) =>
          n.request(client.id, { type: MessageType.PING, closerPeers: [], providerPeers: [] }).pipe(Effect.flip)
        ),
        serverCtx
      )
      expect(refused._tag).toBe("TransientNetworkError")
      yield* Effect.provide(
        Effect.flatMap(DhtMode, (m) => m.set("client")),
        serverCtx
      )
      const nowRefused = yield* Effect.provide(
        Effect.flatMap(Network, (n) =>
          n.request(server.id, { type: MessageType.PING, closerPeers: [], providerPeers: [] }).pipe(Effect.flip)
        ),
        clientCtx
      )
      expect(nowRefused._tag).toBe("TransientNetworkError")
    })
  )
})
