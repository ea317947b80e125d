/**
 * Testing without sockets. Where the guide mocks the host, this SDK swaps
 * the network layer: `MemoryNetworkHub` is a simulated network in the
 * process, and `Dht.layerWith(config, hub.layer(peerId))` builds the real
 * DHT (routing table, lookups, handlers, values, providers) on top of it.
 * Messages still go through the wire codec, so what a test exercises is
 * what would go over TCP. `hub.kill(peer)` and the hub's latency and loss
 * options simulate failures.
 *
 * @module
 */
import {
  bootstrapPeers,
  DHTConfig,
  DHTMode,
  type DHTOption,
  Dht,
  type DhtShape,
  type InvalidOptionError,
  MemoryNetworkHub,
  mode
} from "@effect-kad/dht"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Context, Effect, Layer, type Scope } from "effect"

/** One simulated node. */
export interface InMemoryNode {
  readonly id: PeerId
  /** Its address on the hub; other nodes bootstrap from it. */
  readonly address: Multiaddr
  /** The assembled DHT, as Effects and Streams. */
  readonly dht: DhtShape
}

/** A fresh Ed25519 peer ID. */
export const newPeerId: Effect.Effect<PeerId> = Effect.promise(async () =>
  peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
)

/**
 * Attaches a node to the hub and builds its DHT. Everything it started
 * (handlers, refresh fibers, the hub attachment) stops when the scope closes.
 */
export const startInMemoryNode = (
  hub: MemoryNetworkHub,
  options: ReadonlyArray<DHTOption> = []
): Effect.Effect<InMemoryNode, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const id = yield* newPeerId
    const address = multiaddr(`/memory/${id.toString()}`)
    const config = yield* DHTConfig.fromOptions(options)
    const context = yield* Layer.build(Dht.layerWith(config, hub.layer(id, [address])))
    return { id, address, dht: Context.get(context, Dht) }
  })

/** A simulated network of server nodes, each joining through the first one. */
export const startInMemoryNetwork = (
  size: number,
  options: ReadonlyArray<DHTOption> = []
): Effect.Effect<
  { readonly hub: MemoryNetworkHub; readonly nodes: ReadonlyArray<InMemoryNode> },
  InvalidOptionError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const hub = new MemoryNetworkHub()
    const nodes: Array<InMemoryNode> = []
    for (let i = 0; i < size; i++) {
      const seed = nodes[0]
      const node = yield* startInMemoryNode(hub, [
        mode(DHTMode.server),
        ...options,
        ...(seed === undefined ? [] : [bootstrapPeers([{ id: seed.id, multiaddrs: [seed.address] }])])
      ])
      yield* node.dht.bootstrap()
      nodes.push(node)
    }
    return { hub, nodes }
  })

/**
 * The guide's "should initialize correctly": a client-mode DHT on its own,
 * as the guide builds it on a mocked host.
 */
export const initializeClientNode: Effect.Effect<
  { readonly routingTableSize: number; readonly mode: "client" | "server"; readonly bucketSize: number },
  InvalidOptionError,
  Scope.Scope
> = Effect.gen(function* () {
  const hub = new MemoryNetworkHub()
  const node = yield* startInMemoryNode(hub, [mode(DHTMode.client)])
  return {
    routingTableSize: yield* node.dht.routingTable.size,
    mode: yield* node.dht.mode.current,
    bucketSize: node.dht.config.bucketSize
  }
})
