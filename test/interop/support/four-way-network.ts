/**
 * A four-way mixed network: our nodes, `@libp2p/kad-dht` nodes and the
 * nodes of both peer programs (go-libp2p-kad-dht and rust-libp2p), servers
 * and clients of each, on loopback. Built like the three-way network of
 * `external-network.ts`: the initial links form a ring that cycles through
 * the four implementations, each client starts from one server of each
 * kind, and self lookups run until every server holds every other server.
 * The default layout has 24 servers, more than k = 20, so lookups have to
 * choose while every bucket still has room for every peer.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { Context, Effect, Layer, type Scope } from "effect"
import { randomKey } from "./expect.js"
import { cycle, fullMesh, link, type ThreeWayNode } from "./external-network.js"
import { type ExternalDhtNode, startExternalPeer } from "./external-peer.js"
import { eventually } from "./network.js"
import {
  type Impl,
  type InteropError,
  type JsDhtNode,
  type OurDhtNode,
  type Role,
  startJsNode,
  startOurNode
} from "./nodes.js"

/** The four implementations, in the order the network cycles through them. */
export const IMPLS: ReadonlyArray<Impl> = ["ours", "js", "go", "rust"]

/** How many nodes of each implementation a four-way network has. */
export interface FourWayLayout {
  readonly serversEach: number
  readonly clientsEach: number
}

/** 24 servers (more than k) and one client of each implementation. */
export const defaultFourWayLayout: FourWayLayout = { serversEach: 6, clientsEach: 1 }

/** A node of a four-way network: in this process or in a peer program. */
export type FourWayNode = ThreeWayNode

/** The servers and clients of one implementation. */
export interface Kind<N extends FourWayNode = FourWayNode> {
  readonly servers: ReadonlyArray<N>
  readonly clients: ReadonlyArray<N>
}

/** A running four-way network. */
export interface FourWayNetworkShape {
  readonly ours: Kind<OurDhtNode>
  readonly js: Kind<JsDhtNode>
  readonly go: Kind<ExternalDhtNode>
  readonly rust: Kind<ExternalDhtNode>
  /** The nodes of one implementation. */
  readonly kind: (impl: Impl) => Kind
  /** Every server, cycling through the implementations. */
  readonly servers: ReadonlyArray<FourWayNode>
  readonly clients: ReadonlyArray<FourWayNode>
  readonly nodes: ReadonlyArray<FourWayNode>
  /** The node with this peer ID, for failure messages. */
  readonly nameOf: (id: PeerId) => string
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/**
 * One convergence step of a server: its `refresh` (a self lookup; rust's
 * kad bootstrap also walks the buckets) and lookups of two random keys.
 * With 24 servers an answer lists only the 20 peers closest to the key, so
 * two servers that are each among the other's farthest may never hear of
 * each other through self lookups alone; the random keys stand in for the
 * bucket refreshes each implementation runs on its own timer. Ours's
 * `bootstrap()` would walk the buckets too but admits clients (README,
 * four-way section), so it is not used.
 */
const convergenceStep = (node: FourWayNode): Effect.Effect<void, InteropError> =>
  Effect.zipRight(
    node.refresh,
    Effect.forEach(range(2), () => node.getClosestPeers(randomKey()), { discard: true })
  )

/** Starts a node of any implementation under the scope (a peer program for go and rust). */
export const startAnyNode = (
  impl: Impl,
  name: string,
  role: Role
): Effect.Effect<FourWayNode, InteropError, Scope.Scope> =>
  impl === "ours"
    ? startOurNode(name, role)
    : impl === "js"
      ? startJsNode(name, role)
      : startExternalPeer(impl, name, role)

/** Starts, wires and refreshes a four-way network; every host and process stops when the scope closes. */
export const makeFourWayNetwork = (
  layout: FourWayLayout = defaultFourWayLayout
): Effect.Effect<FourWayNetworkShape, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const concurrency = { concurrency: 4 } as const
    const start = <N extends FourWayNode>(
      begin: (name: string, role: Role) => Effect.Effect<N, InteropError, Scope.Scope>,
      impl: Impl
    ) =>
      Effect.all(
        {
          servers: Effect.forEach(
            range(layout.serversEach),
            (i) => begin(`${impl}-server-${i}`, "server"),
            concurrency
          ),
          clients: Effect.forEach(range(layout.clientsEach), (i) => begin(`${impl}-client-${i}`, "client"), concurrency)
        },
        { concurrency: 2 }
      )
    const [ours, js, go, rust] = yield* Effect.all(
      [
        start(startOurNode, "ours"),
        start(startJsNode, "js"),
        start((name, role) => startExternalPeer("go", name, role), "go"),
        start((name, role) => startExternalPeer("rust", name, role), "rust")
      ] as const,
      { concurrency: 2 }
    )
    const kinds: Record<Impl, Kind> = { ours, js, go, rust }

    const servers = cycle<FourWayNode>(...IMPLS.map((impl) => kinds[impl].servers))
    const clients = cycle<FourWayNode>(...IMPLS.map((impl) => kinds[impl].clients))
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
          IMPLS,
          (impl) => {
            const kind = kinds[impl].servers
            return link(client, kind[i % kind.length])
          },
          { discard: true }
        ),
      concurrency
    )

    // self lookups spread the ring to everyone; repeat them until the tables agree
    yield* eventually(
      Effect.zipRight(Effect.forEach(servers, convergenceStep, concurrency), fullMesh(servers)),
      "120 seconds"
    )
    yield* Effect.forEach(clients, (node) => node.refresh, concurrency)

    const names = new Map(nodes.map((node) => [node.peerId.toString(), node.name]))
    return {
      ours,
      js,
      go,
      rust,
      kind: (impl: Impl) => kinds[impl],
      servers,
      clients,
      nodes,
      nameOf: (id: PeerId) => names.get(id.toString()) ?? id.toString()
    } satisfies FourWayNetworkShape
  })

/** A four-way network shared by the tests of one file. */
export class FourWayNetwork extends Context.Tag("interop/FourWayNetwork")<FourWayNetwork, FourWayNetworkShape>() {
  /** The network as a scoped layer: built once for a `layer(...)` block, stopped after its last test. */
  static readonly layer = (layout: FourWayLayout = defaultFourWayLayout): Layer.Layer<FourWayNetwork, InteropError> =>
    Layer.scoped(FourWayNetwork, makeFourWayNetwork(layout))
}
