/**
 * Routing-table admission across implementations: a node of either kind
 * adds the other kind's server-mode nodes to its routing table and never a
 * client-mode node, even one it is connected to and has identified.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { eventually, MixedNetwork } from "./support/network.js"
import { connect, type DhtNode, InteropError, PROTOCOL, startOurNode } from "./support/nodes.js"

const members = (node: DhtNode, others: ReadonlyArray<DhtNode>) =>
  Effect.forEach(others, (other) => Effect.map(node.routingTableHas(other.peerId), (has) => [other.name, has] as const))

const expectAll = (node: DhtNode, others: ReadonlyArray<DhtNode>, expected: boolean) =>
  Effect.gen(function* () {
    const found = yield* members(node, others)
    const wrong = found.filter(([, has]) => has !== expected).map(([name]) => name)
    if (wrong.length > 0) {
      return yield* new InteropError({
        node: node.name,
        operation: expected ? "admit servers" : "exclude clients",
        cause: `${expected ? "missing" : "holds"} ${wrong.join(", ")}`
      })
    }
  })

layer(MixedNetwork.layer(), { excludeTestServices: true, timeout: "90 seconds" })("routing tables", (it) => {
  it.effect(
    "js servers hold every server of ours, ours hold every js server",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        for (const js of net.js.servers) yield* expectAll(js, net.ours.servers, true)
        for (const ours of net.ours.servers) yield* expectAll(ours, net.js.servers, true)
      }),
    30_000
  )

  it.effect(
    "client-mode nodes that queried servers of both kinds are in no routing table of either implementation",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        for (const client of net.clients) {
          // identify tells peers what the registrar serves: a client does not serve the DHT protocol
          expect(client.host.getProtocols()).not.toContain(PROTOCOL)
          const connectedTo = net.servers.filter((s) => s.host.getConnections(client.peerId).length > 0)
          expect(connectedTo.some((s) => s.impl === "ours")).toBe(true)
          expect(connectedTo.some((s) => s.impl === "js")).toBe(true)
        }
        // js-libp2p also notes the protocol of every inbound stream in the peer store (until identify runs
        // again), so a server's peer store may list a client that queried it under the DHT protocol:
        // admission has to follow identify, which both implementations do
        for (const server of net.servers) yield* expectAll(server, net.clients, false)
      }),
    30_000
  )

  it.effect(
    "client-mode nodes still fill their own tables with servers of both kinds",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        for (const client of net.clients) {
          yield* eventually(
            Effect.gen(function* () {
              const found = yield* members(client, net.servers)
              const ours = found.filter(([name, has]) => has && name.startsWith("ours-")).length
              const js = found.filter(([name, has]) => has && name.startsWith("js-")).length
              if (ours === 0 || js === 0) {
                return yield* new InteropError({
                  node: client.name,
                  operation: "client routing table",
                  cause: `${ours} of ours, ${js} js servers`
                })
              }
            }),
            "20 seconds"
          )
          expect(yield* members(client, net.clients)).toSatisfy((found: ReadonlyArray<readonly [string, boolean]>) =>
            found.every(([, has]) => !has)
          )
        }
      }),
    30_000
  )

  it.effect(
    "a host running our DHT without the ping service is admitted by ours, never by js (it pings new contacts)",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const silent = yield* startOurNode("ours-without-ping", "server", { ping: false })
        const js = net.js.servers[4]
        const ours = net.ours.servers[4]
        yield* connect(silent, js)
        yield* connect(silent, ours)
        const has = (node: DhtNode, peer: DhtNode) =>
          Effect.flatMap(node.routingTableHas(peer.peerId), (yes) =>
            yes ? Effect.void : Effect.fail(new InteropError({ node: node.name, operation: "admit", cause: peer.name }))
          )
        yield* eventually(has(ours, silent), "15 seconds")
        yield* eventually(has(silent, js), "15 seconds")
        // js verifies a new contact with /ipfs/ping/1.0.0, which this host refuses at once; leave it ample time
        yield* Effect.sleep("2 seconds")
        expect(yield* js.routingTableHas(silent.peerId)).toBe(false)
      }).pipe(Effect.scoped),
    30_000
  )
})
