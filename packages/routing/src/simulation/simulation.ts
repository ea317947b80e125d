/**
 * Simulated DHT networks: many nodes in one process over the in-memory
 * network, each running the real routing table, lookup and handlers. Used
 * by tests and by the large-network benchmarks.
 *
 * @module
 */

import {
  defaultRetryPolicy,
  type InvalidOptionError,
  kadIdOfPeer,
  MemoryNetworkHub,
  type MemoryNetworkOptions,
  Network
} from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import { copyAsReceived, pickBucketMembers, sortServers } from "../internal/simulation/filled-tables.js"
import type { NetworkSizeEstimator } from "../netsize/netsize.js"
import { layerPeerRouting, type PeerRoutingLayerConfig } from "../peer-routing/layer.js"
import { PeerRouting } from "../peer-routing/peer-routing.js"
import { RpcHandlers } from "../peer-routing/rpc.js"
import { RoutingTable } from "../routing-table/routing-table.js"

/** Services every simulated node has. */
export type SimulatedServices = Network | RoutingTable | NetworkSizeEstimator | PeerRouting | RpcHandlers

/** One node of a simulation. */
export interface SimulatedNode<R> {
  readonly id: PeerId
  readonly context: Context.Context<R | SimulatedServices>
  /** Runs an effect as this node. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, R | SimulatedServices>) => Effect.Effect<A, E>
}

/** Settings of {@link makeSimulation}. */
export interface SimulationConfig extends Partial<PeerRoutingLayerConfig> {
  /** Number of nodes. */
  readonly size: number
  /** Link behaviour (latency, loss). */
  readonly network?: MemoryNetworkOptions
  /** How many already-joined nodes each newcomer is told about before its self-lookup (default 3). */
  readonly bootstrapContacts?: number
  /** Fraction of nodes in client mode (no handler served; default 0). Clients join last, after the servers. */
  readonly clientFraction?: number
  /**
   * How nodes join (default `"self-lookup"`).
   *
   * - `"self-lookup"`: one by one, each learns {@link SimulationConfig.bootstrapContacts}
   *   random members and looks itself up, as a real node does after dialing
   *   its bootstrap peers. N lookups: the organic way, for up to a few thousand nodes.
   * - `"filled-tables"`: once every node is attached, each routing table is
   *   filled as periodic bucket refreshes leave it in a settled network: per
   *   bucket, up to k servers picked at random (seeded by the `Random`
   *   service) among those whose IDs fall in it, each added as a copy decoded
   *   from its wire form. O(N log N) with no messages: for networks of tens
   *   of thousands of nodes.
   */
  readonly join?: "self-lookup" | "filled-tables"
}

/** A running simulation. */
export interface Simulation<R> {
  readonly hub: MemoryNetworkHub
  readonly nodes: ReadonlyArray<SimulatedNode<R>>
  /** The nodes running in server mode. */
  readonly servers: ReadonlyArray<SimulatedNode<R>>
}

/** Peer-routing settings of a simulation node, from the Amino defaults. */
export const simulationDefaults: PeerRoutingLayerConfig = {
  k: 20,
  alpha: 10,
  beta: 3,
  requestTimeoutMillis: 10_000,
  retry: { ...defaultRetryPolicy, maxAttempts: 1 },
  filterLocalhostInResponses: false
}

/** Fresh Ed25519 peer IDs. */
export const generatePeerIds = (count: number): Effect.Effect<Array<PeerId>> =>
  Effect.promise(async () => {
    const ids: Array<PeerId> = []
    for (let i = 0; i < count; i++) ids.push(peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
    return ids
  })

/**
 * Builds and bootstraps a network of `size` nodes. Each node joins by
 * learning a few random members and looking itself up, as a real node does
 * after dialing its bootstrap peers. `extend` adds services on top of peer
 * routing (value storage, providers) to every node.
 *
 * @example
 * ```ts
 * const sim = yield* makeSimulation({ size: 500 })
 * const closest = yield* sim.nodes[0].run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)))
 * ```
 */
export const makeSimulation = <R = never, E = never>(
  config: SimulationConfig,
  extend?: Layer.Layer<R, E, SimulatedServices>
): Effect.Effect<Simulation<R>, E | InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const hub = new MemoryNetworkHub(config.network)
    const ids = yield* generatePeerIds(config.size)
    const settings: PeerRoutingLayerConfig = { ...simulationDefaults, ...config }
    const clientCount = Math.floor((config.clientFraction ?? 0) * config.size)
    const contacts = config.bootstrapContacts ?? 3
    const join = config.join ?? "self-lookup"
    const nodes: Array<SimulatedNode<R>> = []
    const servers: Array<SimulatedNode<R>> = []

    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      const serving = i < ids.length - clientCount
      const base = layerPeerRouting(settings).pipe(Layer.provideMerge(hub.layer(id)))
      const full = (extend === undefined ? base : Layer.provideMerge(extend, base)) as Layer.Layer<
        R | SimulatedServices,
        E | InvalidOptionError
      >
      const context = yield* Layer.build(full)
      const node: SimulatedNode<R> = {
        id,
        context,
        run: (effect) => Effect.provide(effect, context)
      }
      if (serving) {
        // served for the life of the simulation's scope
        yield* Effect.provide(
          Effect.gen(function* () {
            const network = yield* Network
            const rpc = yield* RpcHandlers
            yield* network.serve(rpc.dispatch)
          }),
          context
        )
        servers.push(node)
      }
      nodes.push(node)

      // join: learn a few random servers, then look ourselves up
      const known = join === "self-lookup" ? servers.filter((s) => s !== node) : []
      if (known.length > 0) {
        yield* node.run(
          Effect.gen(function* () {
            const network = yield* Network
            const table = yield* RoutingTable
            for (let c = 0; c < Math.min(contacts, known.length); c++) {
              const contact = known[yield* Random.nextIntBetween(0, known.length)]
              yield* network.connect({ id: contact.id, multiaddrs: [] }).pipe(Effect.ignore)
              yield* table.tryAdd({ id: contact.id, multiaddrs: yield* network.addressesOf(contact.id) })
            }
            const routing = yield* PeerRouting
            yield* routing.getClosestPeers(id.toMultihash().bytes)
          })
        )
      }
    }
    if (join === "filled-tables") yield* fillTables(nodes, servers, settings.k)
    return { hub, nodes, servers }
  })

/** Fills every node's routing table from the servers (see {@link SimulationConfig.join}). */
const fillTables = <R>(
  nodes: ReadonlyArray<SimulatedNode<R>>,
  servers: ReadonlyArray<SimulatedNode<R>>,
  k: number
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const infos = yield* Effect.forEach(servers, (server) => server.run(Effect.flatMap(Network, (n) => n.selfInfo)))
    const { sorted, order } = sortServers(servers.map((server) => server.id))
    const serving = new Set<SimulatedNode<R>>(servers)
    const seed = yield* Random.nextInt
    for (let n = 0; n < nodes.length; n++) {
      const node = nodes[n]
      const picks = pickBucketMembers(kadIdOfPeer(node.id), serving.has(node), sorted, order, k, seed + n)
      yield* node.run(
        Effect.gen(function* () {
          const network = yield* Network
          const table = yield* RoutingTable
          for (const pick of picks) {
            for (const member of pick.members) {
              const peer = copyAsReceived(infos[member])
              yield* network.rememberAddresses(peer)
              yield* table.tryAdd(peer, { queryPeer: true })
            }
          }
        })
      )
    }
  })
