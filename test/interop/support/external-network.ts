/**
 * A three-way mixed network: our nodes, `@libp2p/kad-dht` nodes and the
 * nodes of one peer program (go or rust), servers and clients of each, on
 * loopback. The initial links form a ring that cycles through the three
 * implementations, so every first contact crosses implementations; self
 * lookups then run until every server has every other server in its routing
 * table. With a few more servers than k (20) lookups have to choose, yet
 * every bucket still has room for every peer, so that full mesh is what a
 * correct DHT converges to.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { Context, Effect, Layer, type Scope } from "effect"
import type { Libp2p } from "libp2p"
import { randomKey } from "./expect.js"
import { type ExternalDhtNode, type ExternalImpl, startExternalPeer } from "./external-peer.js"
import { eventually } from "./network.js"
import {
  type AnyDhtNode,
  connect,
  type DhtNode,
  InteropError,
  type JsDhtNode,
  type OurDhtNode,
  startJsNode,
  startOurNode,
  startProbe
} from "./nodes.js"

/** How many nodes of each kind a three-way network has. */
export interface ThreeWayLayout {
  readonly ourServers: number
  readonly jsServers: number
  readonly externalServers: number
  readonly clientsEach: number
}

/** 22 servers (more than k) and one client of each implementation. */
export const defaultThreeWayLayout: ThreeWayLayout = {
  ourServers: 8,
  jsServers: 7,
  externalServers: 7,
  clientsEach: 1
}

/** A running three-way network. */
export interface ThreeWayNetworkShape {
  readonly impl: ExternalImpl
  readonly ours: { readonly servers: ReadonlyArray<OurDhtNode>; readonly clients: ReadonlyArray<OurDhtNode> }
  readonly js: { readonly servers: ReadonlyArray<JsDhtNode>; readonly clients: ReadonlyArray<JsDhtNode> }
  readonly external: {
    readonly servers: ReadonlyArray<ExternalDhtNode>
    readonly clients: ReadonlyArray<ExternalDhtNode>
  }
  /** Every server, cycling through the implementations. */
  readonly servers: ReadonlyArray<ThreeWayNode>
  readonly clients: ReadonlyArray<ThreeWayNode>
  readonly nodes: ReadonlyArray<ThreeWayNode>
  /** A host without a DHT, connected to every server, for raw protocol exchanges. */
  readonly probe: Libp2p
  /** The node with this peer ID, for failure messages. */
  readonly nameOf: (id: PeerId) => string
}

/** A node of a three-way network: in this process or in a peer program. */
export type ThreeWayNode = DhtNode | ExternalDhtNode

/** `connect`, tried again on a busy machine where a handshake can outlast its deadline. */
export const link = (from: Parameters<typeof connect>[0], to: Parameters<typeof connect>[1]) =>
  Effect.retry(connect(from, to), { times: 2 })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** The lists' elements taken in turn: the first of each, then the second of each, and so on. */
export const cycle = <A>(...lists: ReadonlyArray<ReadonlyArray<A>>): Array<A> => {
  const out: Array<A> = []
  for (let i = 0; i < Math.max(...lists.map((l) => l.length)); i++) {
    for (const list of lists) if (i < list.length) out.push(list[i])
  }
  return out
}

const isExternal = (node: AnyDhtNode): node is ExternalDhtNode => node.impl === "go" || node.impl === "rust"

/**
 * Which of `candidates` are in `node`'s routing table: a peer program
 * lists its table in one request, an in-process node is asked per peer.
 */
export const tableMembers = (
  node: AnyDhtNode,
  candidates: ReadonlyArray<AnyDhtNode>
): Effect.Effect<ReadonlyArray<AnyDhtNode>, InteropError> =>
  isExternal(node)
    ? Effect.map(node.routingTable, (peers) => {
        const ids = new Set(peers.map(String))
        return candidates.filter((c) => ids.has(c.peerId.toString()))
      })
    : Effect.filter(candidates, (c) => node.routingTableHas(c.peerId), { concurrency: "unbounded" })

/** Fails unless every server lists every other server in its routing table. */
export const fullMesh = (servers: ReadonlyArray<AnyDhtNode>) =>
  Effect.forEach(
    servers,
    (node) =>
      Effect.gen(function* () {
        const others = servers.filter((s) => s !== node)
        const present = new Set(yield* tableMembers(node, others))
        const missing = others.filter((o) => !present.has(o))
        if (missing.length > 0) {
          return yield* new InteropError({
            node: node.name,
            operation: "routing table convergence",
            cause: `missing ${missing.map((m) => m.name).join(", ")}`
          })
        }
      }),
    { discard: true, concurrency: 4 }
  )

/** Starts, wires and refreshes a three-way network; every host and process stops when the scope closes. */
export const makeThreeWayNetwork = (
  impl: ExternalImpl,
  layout: ThreeWayLayout = defaultThreeWayLayout
): Effect.Effect<ThreeWayNetworkShape, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const concurrency = { concurrency: 4 } as const
    const [ourServers, jsServers, externalServers, ourClients, jsClients, externalClients] = yield* Effect.all(
      [
        Effect.forEach(range(layout.ourServers), (i) => startOurNode(`ours-server-${i}`, "server"), concurrency),
        Effect.forEach(range(layout.jsServers), (i) => startJsNode(`js-server-${i}`, "server"), concurrency),
        Effect.forEach(
          range(layout.externalServers),
          (i) => startExternalPeer(impl, `${impl}-server-${i}`, "server"),
          concurrency
        ),
        Effect.forEach(range(layout.clientsEach), (i) => startOurNode(`ours-client-${i}`, "client"), concurrency),
        Effect.forEach(range(layout.clientsEach), (i) => startJsNode(`js-client-${i}`, "client"), concurrency),
        Effect.forEach(
          range(layout.clientsEach),
          (i) => startExternalPeer(impl, `${impl}-client-${i}`, "client"),
          concurrency
        )
      ] as const,
      { concurrency: 2 }
    )
    const probe = yield* startProbe()

    const servers = cycle<ThreeWayNode>(ourServers, jsServers, externalServers)
    const clients = cycle<ThreeWayNode>(ourClients, jsClients, externalClients)
    const nodes = [...servers, ...clients]

    // a ring cycling through the implementations: each server first meets one of another kind
    yield* Effect.forEach(
      range(servers.length),
      (i) => link(servers[i], servers[(i + 1) % servers.length]),
      concurrency
    )
    // each client starts from one server of each implementation
    yield* Effect.forEach(
      clients,
      (client, i) =>
        Effect.forEach(
          [ourServers, jsServers, externalServers] as ReadonlyArray<ReadonlyArray<ThreeWayNode>>,
          (kind) => link(client, kind[i % kind.length]),
          { discard: true }
        ),
      concurrency
    )
    yield* Effect.forEach(servers, (server) => link(probe, server), concurrency)

    // self lookups spread the ring to everyone; repeat them until the tables agree. With more
    // servers than k, two servers far apart may never hear of each other through self lookups
    // alone: random keys stand in for the bucket refreshes each implementation runs on its timer
    yield* eventually(
      Effect.zipRight(
        Effect.forEach(
          servers,
          (node) =>
            Effect.zipRight(
              node.refresh,
              Effect.forEach(range(2), () => node.getClosestPeers(randomKey()), { discard: true })
            ),
          concurrency
        ),
        fullMesh(servers)
      ),
      "90 seconds"
    )
    yield* Effect.forEach(clients, (node) => node.refresh, concurrency)

    const names = new Map(nodes.map((node) => [node.peerId.toString(), node.name]))
    return {
      impl,
      ours: { servers: ourServers, clients: ourClients },
      js: { servers: jsServers, clients: jsClients },
      external: { servers: externalServers, clients: externalClients },
      servers,
      clients,
      nodes,
      probe,
      nameOf: (id: PeerId) => names.get(id.toString()) ?? id.toString()
    } satisfies ThreeWayNetworkShape
  })

/** A three-way network shared by the tests of one file. */
export class ThreeWayNetwork extends Context.Tag("interop/ThreeWayNetwork")<ThreeWayNetwork, ThreeWayNetworkShape>() {
  /** The network as a scoped layer: built once for a `layer(...)` block, stopped after its last test. */
  static readonly layer = (
    impl: ExternalImpl,
    layout: ThreeWayLayout = defaultThreeWayLayout
  ): Layer.Layer<ThreeWayNetwork, InteropError> => Layer.scoped(ThreeWayNetwork, makeThreeWayNetwork(impl, layout))
}
