import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { describe, expect, it } from "@effect/vitest"
import {
  DEFAULT_PROTOCOL,
  Libp2pNetwork,
  type Message,
  MessageType,
  Network,
  type PeerInfo,
  peerInfoToWire
} from "@effect-kad/core"
import {
  layerPeerRouting,
  type NetworkSizeEstimator,
  PeerRouting,
  RoutingTable,
  RpcHandlers,
  simulationDefaults
} from "@effect-kad/routing"
import { identify, identifyPush } from "@libp2p/identify"
import { tcp } from "@libp2p/tcp"
import { Chunk, type Context, Effect, Layer, Schedule, type Scope, Stream } from "effect"
import { createLibp2p, type Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { ContentRouting, layerContentRouting, ProviderStoreService } from "../src/index.js"

type Services =
  | Network
  | RoutingTable
  | NetworkSizeEstimator
  | PeerRouting
  | RpcHandlers
  | ContentRouting
  | ProviderStoreService

interface RealNode {
  readonly host: Libp2p
  readonly context: Context.Context<Services>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Services>) => Effect.Effect<A, E>
  readonly info: PeerInfo
}

/** A DHT node on a real host on 127.0.0.1 (TCP, Noise, Yamux, Identify), stopped with the scope. */
const makeNode = (serving: boolean): Effect.Effect<RealNode, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const host = yield* Effect.acquireRelease(
      Effect.promise(() =>
        createLibp2p({
          addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
          transports: [tcp()],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()],
          services: { identify: identify(), identifyPush: identifyPush() }
        })
      ),
      (node) => Effect.promise(async () => node.stop())
    )
    const layer = layerContentRouting().pipe(
      Layer.provideMerge(
        layerPeerRouting({
          ...simulationDefaults,
          filterLocalhostInResponses: false,
          // these tests are about where records go, not about deadlines: a loaded machine that answers
          // late must not leave a server out of a provide's closest peers
          queryDeadline: { floorMillis: 10_000, ceilingMillis: 10_000, dialMillis: 10_000 }
        })
      ),
      Layer.provideMerge(Libp2pNetwork.layer(host))
    )
    const context = yield* Layer.build(layer)
    const run = <A, E>(effect: Effect.Effect<A, E, Services>) => Effect.provide(effect, context)
    if (serving) {
      yield* Effect.provide(
        Effect.gen(function* () {
          const network = yield* Network
          const rpc = yield* RpcHandlers
          yield* network.serve(rpc.dispatch)
        }),
        context
      )
    }
    const info = yield* run(Effect.flatMap(Network, (n) => n.selfInfo))
    return { host, context, run, info }
  })

const eventually = <A>(check: Effect.Effect<A, unknown>) =>
  check.pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("15 seconds"))), Effect.orDie)

const tableSize = (node: RealNode) => node.run(Effect.flatMap(RoutingTable, (t) => t.size))

const storedProviders = (node: RealNode, key: Uint8Array) =>
  node.run(Effect.flatMap(ProviderStoreService, (s) => s.getProviders(key)))

/** Five servers in a star around the first one, plus a client-mode node hanging off the hub. */
const starNetwork = Effect.gen(function* () {
  const servers: Array<RealNode> = []
  for (let i = 0; i < 5; i++) servers.push(yield* makeNode(true))
  const [hub, ...leaves] = servers
  for (const leaf of leaves) yield* leaf.run(Effect.flatMap(Network, (n) => n.connect(hub.info)))
  const client = yield* makeNode(false)
  yield* client.run(Effect.flatMap(Network, (n) => n.connect(hub.info)))
  // identify tells everyone the hub serves the DHT; a self-lookup through
  // it then introduces the leaves to each other
  yield* eventually(
    Effect.forEach([...leaves, client], (node) =>
      Effect.flatMap(tableSize(node), (size) => (size >= 1 ? Effect.void : Effect.fail("hub not in table yet")))
    )
  )
  for (const node of [...leaves, client]) {
    yield* node.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(node.info.id.toMultihash().bytes)))
  }
  yield* eventually(
    Effect.forEach(servers, (node) =>
      Effect.flatMap(tableSize(node), (size) => (size === 4 ? Effect.void : Effect.fail(`table has ${size}`)))
    )
  )
  return { servers, hub, leaves, client }
})

/** Counts the DHT streams `host` opens from now on: every outbound one goes through `dialProtocol`. */
const countDhtStreams = (host: Libp2p) => {
  const counter = { opened: 0 }
  const dial = host.dialProtocol.bind(host)
  host.dialProtocol = (...args: Parameters<Libp2p["dialProtocol"]>) => {
    if (String(args[1]) === DEFAULT_PROTOCOL) counter.opened++
    return dial(...args)
  }
  return counter
}

const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))))

describe("content routing over real libp2p hosts", () => {
  it.scopedLive(
    "100 CIDs provided by one node are found with addresses from every other node",
    () =>
      Effect.gen(function* () {
        const { hub, leaves, client } = yield* starNetwork
        const provider = leaves[1]
        const cids = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => cidOf(`content ${i}`)
        )
        const sent = yield* provider.run(
          Effect.flatMap(ContentRouting, (c) => Effect.forEach(cids, (cid) => c.provide(cid), { concurrency: 8 }))
        )
        // each announcement reaches the four other servers, never the client
        expect(new Set(sent)).toEqual(new Set([4]))

        const expected = provider.info.multiaddrs.map(String).sort()
        expect(expected.length).toBeGreaterThan(0)
        for (const seeker of [hub, leaves[0], leaves[2], leaves[3], client]) {
          const found = yield* seeker.run(
            Effect.flatMap(ContentRouting, (c) =>
              Effect.forEach(cids, (cid) => Stream.runCollect(c.findProviders(cid, { count: 1 })), {
                concurrency: 8
              })
            )
          )
          for (const providers of found) {
            const [only, ...rest] = Chunk.toArray(providers)
            expect(rest).toEqual([])
            expect(only.id.equals(provider.info.id)).toBe(true)
            expect(only.multiaddrs.map(String).sort()).toEqual(expected)
          }
        }
        // the client holds no records: it found them all over GET_PROVIDERS
        expect(yield* storedProviders(client, cids[0].multihash.bytes)).toEqual([])
      }),
    90_000
  )

  it.scopedLive(
    "provideMany sends each peer its ADD_PROVIDERs over a few reused streams, and every peer stores every record",
    () =>
      Effect.gen(function* () {
        const { servers, leaves } = yield* starNetwork
        const provider = leaves[1]
        const peers = servers.filter((node) => node !== provider)
        const cids = yield* Effect.forEach(
          Array.from({ length: 60 }, (_, i) => i),
          (i) => cidOf(`many ${i}`)
        )
        const streams = countDhtStreams(provider.host)
        const result = yield* provider.run(Effect.flatMap(ContentRouting, (c) => c.provideMany(cids)))
        // fewer servers than k: every key goes to each of them
        expect(result.messages).toBe(cids.length * peers.length)
        expect(result.delivered).toBe(result.messages)
        expect(result.undelivered).toBe(0)
        // one stream per message would be 240; the few lanes each peer's keys run on reuse theirs
        expect(streams.opened).toBeLessThanOrEqual(peers.length * 4)

        // ADD_PROVIDER is unanswered: the records are stored as each server reads them
        yield* eventually(
          Effect.forEach(peers, (peer) =>
            Effect.forEach(cids, (cid) =>
              Effect.flatMap(storedProviders(peer, cid.multihash.bytes), (providers) =>
                providers.some((p) => p.id.equals(provider.info.id)) ? Effect.void : Effect.fail("not stored yet")
              )
            )
          )
        )
      }),
    90_000
  )

  it.scopedLive(
    "an ADD_PROVIDER naming another peer is dropped by a real server",
    () =>
      Effect.gen(function* () {
        const { hub, leaves } = yield* starNetwork
        const [sender, victim] = leaves
        const spoofed = (yield* cidOf("spoofed")).multihash.bytes
        const honest = (yield* cidOf("honest")).multihash.bytes
        const message = (key: Uint8Array, provider: PeerInfo): Message => ({
          type: MessageType.ADD_PROVIDER,
          key: key as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: [peerInfoToWire(provider)]
        })
        yield* sender.run(Effect.flatMap(Network, (n) => n.send(hub.info.id, message(spoofed, victim.info))))
        yield* sender.run(Effect.flatMap(Network, (n) => n.send(hub.info.id, message(honest, sender.info))))
        const stored = yield* eventually(
          Effect.flatMap(storedProviders(hub, honest), (providers) =>
            providers.length === 1 ? Effect.succeed(providers) : Effect.fail("honest record not stored yet")
          )
        )
        expect(stored[0].id.equals(sender.info.id)).toBe(true)
        // give the spoofed message, sent first, every chance to have been handled
        yield* Effect.sleep("200 millis")
        expect(yield* storedProviders(hub, spoofed)).toEqual([])
      }),
    60_000
  )
})
