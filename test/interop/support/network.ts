/**
 * A mixed network: server and client nodes of both implementations on
 * loopback, wired so that every link of the initial ring crosses from one
 * implementation to the other, then refreshed until every server has every
 * other server in its routing table. With fewer servers than k (20) that
 * full mesh is what a correct DHT converges to, and it makes lookups in the
 * tests deterministic.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import type { Libp2p } from "libp2p"
import {
  connect,
  type DhtNode,
  InteropError,
  type JsDhtNode,
  type OurDhtNode,
  startJsNode,
  startOurNode,
  startProbe
} from "./nodes.js"

/** How many nodes of each kind a network has. */
export interface Layout {
  readonly ourServers: number
  readonly jsServers: number
  readonly ourClients: number
  readonly jsClients: number
}

/** The default layout: 12 nodes, five servers and one client of each implementation. */
export const defaultLayout: Layout = { ourServers: 5, jsServers: 5, ourClients: 1, jsClients: 1 }

/** A running mixed network. */
export interface MixedNetworkShape {
  readonly ours: { readonly servers: ReadonlyArray<OurDhtNode>; readonly clients: ReadonlyArray<OurDhtNode> }
  readonly js: { readonly servers: ReadonlyArray<JsDhtNode>; readonly clients: ReadonlyArray<JsDhtNode> }
  /** Every server, alternating implementations. */
  readonly servers: ReadonlyArray<DhtNode>
  readonly clients: ReadonlyArray<DhtNode>
  readonly nodes: ReadonlyArray<DhtNode>
  /** A host without a DHT, connected to every server, for raw protocol exchanges. */
  readonly probe: Libp2p
  /** The node with this peer ID, for failure messages. */
  readonly nameOf: (id: PeerId) => string
}

/** A node of a mixed network, with the label test names give it. */
export type NodePick = readonly [label: string, pick: (net: MixedNetworkShape) => DhtNode]

/** The first server and the first client of each implementation: where operations start from. */
export const firstOfEachKind: ReadonlyArray<NodePick> = [
  ["our server", (net) => net.ours.servers[0]],
  ["a js server", (net) => net.js.servers[0]],
  ["our client", (net) => net.ours.clients[0]],
  ["a js client", (net) => net.js.clients[0]]
]

/** Retries `check` every 100 ms for up to `limit`, failing with its last error. */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, limit: `${number} seconds` = "30 seconds") =>
  Effect.retry(check, Schedule.spaced("100 millis").pipe(Schedule.upTo(limit)))

const interleave = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>): Array<A> => {
  const out: Array<A> = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i])
    if (i < b.length) out.push(b[i])
  }
  return out
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Fails unless every server lists every other server in its routing table. */
const fullMesh = (servers: ReadonlyArray<DhtNode>) =>
  Effect.forEach(
    servers,
    (node) =>
      Effect.gen(function* () {
        const missing: Array<string> = []
        for (const other of servers) {
          if (other !== node && !(yield* node.routingTableHas(other.peerId))) missing.push(other.name)
        }
        if (missing.length > 0) {
          return yield* new InteropError({
            node: node.name,
            operation: "routing table convergence",
            cause: `missing ${missing.join(", ")}`
          })
        }
      }),
    { discard: true }
  )

/** Starts, wires and refreshes a mixed network; every host stops when the scope closes. */
export const makeMixedNetwork = (
  layout: Layout = defaultLayout
): Effect.Effect<MixedNetworkShape, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const concurrency = { concurrency: 4 } as const
    const ourServers = yield* Effect.forEach(
      range(layout.ourServers),
      (i) => startOurNode(`ours-server-${i}`, "server"),
      concurrency
    )
    const jsServers = yield* Effect.forEach(
      range(layout.jsServers),
      (i) => startJsNode(`js-server-${i}`, "server"),
      concurrency
    )
    const ourClients = yield* Effect.forEach(
      range(layout.ourClients),
      (i) => startOurNode(`ours-client-${i}`, "client"),
      concurrency
    )
    const jsClients = yield* Effect.forEach(
      range(layout.jsClients),
      (i) => startJsNode(`js-client-${i}`, "client"),
      concurrency
    )
    const probe = yield* startProbe()

    const servers: Array<DhtNode> = interleave<DhtNode>(ourServers, jsServers)
    const clients: Array<DhtNode> = interleave<DhtNode>(ourClients, jsClients)
    const nodes = [...servers, ...clients]

    // a ring over alternating implementations: each server first meets one of the other kind
    yield* Effect.forEach(
      range(servers.length),
      (i) => connect(servers[i], servers[(i + 1) % servers.length]),
      concurrency
    )
    // each client starts from one server of each implementation
    yield* Effect.forEach(
      clients,
      (client, i) =>
        Effect.zip(
          connect(client, ourServers[i % ourServers.length]),
          connect(client, jsServers[i % jsServers.length])
        ),
      concurrency
    )
    yield* Effect.forEach(servers, (server) => connect(probe, server), concurrency)

    // self lookups spread the ring to everyone; repeat them until the tables agree
    yield* eventually(
      Effect.zipRight(
        Effect.forEach(servers, (node) => node.refresh, concurrency),
        fullMesh(servers)
      ),
      "45 seconds"
    )
    yield* Effect.forEach(clients, (node) => node.refresh, concurrency)

    const names = new Map(nodes.map((node) => [node.peerId.toString(), node.name]))
    return {
      ours: { servers: ourServers, clients: ourClients },
      js: { servers: jsServers, clients: jsClients },
      servers,
      clients,
      nodes,
      probe,
      nameOf: (id: PeerId) => names.get(id.toString()) ?? id.toString()
    } satisfies MixedNetworkShape
  })

/** A mixed network shared by the tests of one file. */
export class MixedNetwork extends Context.Tag("interop/MixedNetwork")<MixedNetwork, MixedNetworkShape>() {
  /** The network as a scoped layer: built once for a `layer(...)` block, stopped after its last test. */
  static readonly layer = (layout: Layout = defaultLayout): Layer.Layer<MixedNetwork, InteropError> =>
    Layer.scoped(MixedNetwork, makeMixedNetwork(layout))
}
