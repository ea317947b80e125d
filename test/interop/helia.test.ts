/**
 * Helia 7 as a real client of this project's DHT: Helia nodes whose libp2p
 * runs our `kadDHT` service join a network of our DHT servers. One adds a
 * UnixFS file and provides it through Helia's routing (libp2p content
 * routing, then our service's provide); another, never connected to it,
 * finds it through the DHT and fetches the file over bitswap.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { MessageType, peerInfoFromWire } from "@effect-kad/core"
import type { Connection } from "@libp2p/interface"
import { Context, Effect, Layer } from "effect"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { tcpPorts } from "./support/expect.js"
import { type HeliaNode, identified, inRoutingTable, startHelia, startServers } from "./support/helia.js"
import { eventually } from "./support/network.js"
import { connect, InteropError, type OurDhtNode, startProbe } from "./support/nodes.js"
import { rawRequest } from "./support/raw.js"

/** Four of our DHT servers in full mesh, and a bare host for raw GET_PROVIDERS. */
class Servers extends Context.Tag("interop/HeliaServers")<
  Servers,
  { readonly servers: ReadonlyArray<OurDhtNode>; readonly probe: Libp2p }
>() {
  static readonly layer = Layer.scoped(
    Servers,
    Effect.gen(function* () {
      const servers = yield* startServers(4)
      const probe = yield* startProbe()
      yield* Effect.forEach(servers, (server) => connect(probe, server), { discard: true })
      return { servers, probe }
    })
  )
}

/** A file of three 256 KiB chunks and a shorter one, so UnixFS builds a root block over four leaves. */
const randomFile = () => new Uint8Array(randomBytes(3 * 256 * 1024 + 1000))

const connectionsBetween = (a: HeliaNode, b: HeliaNode): ReadonlyArray<Connection> => [
  ...a.libp2p.getConnections(b.peerId),
  ...b.libp2p.getConnections(a.peerId)
]

/** Fails unless neither node has a connection to the other nor knows it in its peer store. */
const expectStrangers = (a: HeliaNode, b: HeliaNode) =>
  Effect.gen(function* () {
    expect(connectionsBetween(a, b), `${a.name} and ${b.name} are not connected`).toEqual([])
    const known = yield* Effect.promise(async () => [await a.libp2p.peerStore.has(b.peerId)])
    expect(known, `${a.name} has never heard of ${b.name}`).toEqual([false])
  })

/** Connects a Helia node to a server and waits until the server is in the node's routing table. */
const join = (node: HeliaNode, server: OurDhtNode) =>
  Effect.gen(function* () {
    yield* connect(node.libp2p, server)
    yield* eventually(
      Effect.flatMap(inRoutingTable(node.libp2p, server.peerId), (has) =>
        has
          ? Effect.void
          : Effect.fail(new InteropError({ node: node.name, operation: "admit server", cause: server.name }))
      ),
      "10 seconds"
    )
  })

/** The servers that answer a raw GET_PROVIDERS for `cid` with `provider` at its own TCP ports. */
const serversStoring = (servers: ReadonlyArray<OurDhtNode>, probe: Libp2p, cid: CID, provider: HeliaNode) =>
  Effect.gen(function* () {
    const ports = tcpPorts(provider.libp2p.getMultiaddrs()).join()
    const storing: Array<string> = []
    for (const server of servers) {
      const response = yield* rawRequest(probe, server.peerId, {
        type: MessageType.GET_PROVIDERS,
        key: cid.multihash.bytes
      })
      const stored = response.providerPeers.some((wire) => {
        const peer = peerInfoFromWire(wire)
        return peer?.id.equals(provider.peerId) === true && tcpPorts(peer.multiaddrs).join() === ports
      })
      if (stored) storing.push(server.name)
    }
    return storing
  })

/** Waits (10 s at most) until every server stores `provider` for `cid`. */
const expectStoredEverywhere = (servers: ReadonlyArray<OurDhtNode>, probe: Libp2p, cid: CID, provider: HeliaNode) =>
  eventually(
    Effect.flatMap(serversStoring(servers, probe, cid, provider), (storing) =>
      storing.length === servers.length
        ? Effect.void
        : Effect.fail(
            new InteropError({
              node: provider.name,
              operation: "provide",
              cause: `the provider record reached ${storing.length} of ${servers.length} servers (${storing.join(", ") || "none"})`
            })
          )
    ),
    "10 seconds"
  )

/** Finds `provider` for `cid` through `finder`'s Helia routing, then fetches the file over bitswap. */
const findAndFetch = (finder: HeliaNode, provider: HeliaNode, cid: CID, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const providers = yield* finder.findProviders(cid)
    const match = providers.find((p) => p.id.equals(provider.peerId))
    expect(match, `${finder.name} finds ${provider.name} among ${providers.length} providers`).toBeDefined()
    expect(tcpPorts(match?.multiaddrs ?? [])).toEqual(tcpPorts(provider.libp2p.getMultiaddrs()))
    // finding the provider does not dial it: the two are still strangers until bitswap
    expect(connectionsBetween(finder, provider)).toEqual([])

    const fetched = yield* finder.cat(cid)
    expect(fetched.length).toBe(bytes.length)
    expect(Buffer.compare(fetched, bytes), "the fetched file equals the added one").toBe(0)
    // bitswap dialed the provider it found, by the addresses the DHT returned
    expect(finder.libp2p.getConnections(provider.peerId).length).toBeGreaterThan(0)
  })

/** Every connection of `nodes` is to 127.0.0.1: nothing Helia configures reached out elsewhere. */
const expectLoopbackOnly = (nodes: ReadonlyArray<HeliaNode>) => {
  for (const node of nodes) {
    const remotes = node.libp2p.getConnections().map((c) => c.remoteAddr.toString())
    expect(remotes.length).toBeGreaterThan(0)
    for (const remote of remotes) expect(remote, `${node.name} connection`).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\//)
  }
}

layer(Servers.layer, { excludeTestServices: true, timeout: "60 seconds" })("Helia over our DHT", (it) => {
  it.scoped(
    "Helia B finds through the DHT the file Helia A provided, without ever having been connected to A, and fetches it over bitswap",
    () =>
      Effect.gen(function* () {
        const { servers, probe } = yield* Servers
        const a = yield* startHelia("helia-a")
        const b = yield* startHelia("helia-b")
        for (const node of [a, b]) {
          // Helia's routing is its libp2p router only (no delegated routing, no gateways), and its
          // libp2p runs only the services configured here (none of Helia's defaults such as autoNAT or UPnP)
          expect(node.routerNames()).toEqual(["libp2p-router"])
          expect(Object.keys(node.libp2p.services).sort()).toEqual(["dht", "identify", "ping"])
        }

        // each client knows one server, not the same one
        yield* join(a, servers[0])
        yield* join(b, servers[2])

        const bytes = randomFile()
        const cid = yield* a.addFile(bytes)
        yield* a.provide(cid)
        // fewer servers than k: the provide reaches every one of them
        yield* expectStoredEverywhere(servers, probe, cid, a)

        yield* expectStrangers(a, b)
        yield* expectStrangers(b, a)
        // neither client is in a server's routing table, so no lookup hands one to the other
        for (const server of servers) {
          expect(yield* server.routingTableHas(a.peerId)).toBe(false)
          expect(yield* server.routingTableHas(b.peerId)).toBe(false)
        }

        yield* findAndFetch(b, a, cid, bytes)
        expectLoopbackOnly([a, b])
      }),
    45_000
  )

  it.scoped(
    "a file provided right after start, as soon as the first connection is up, is still found and fetched",
    () =>
      Effect.gen(function* () {
        const { servers, probe } = yield* Servers
        const finder = yield* startHelia("helia-finder")
        yield* join(finder, servers[3])

        const provider = yield* startHelia("helia-early")
        const bytes = randomFile()
        const cid = yield* provider.addFile(bytes)
        // dial resolves once the connection is up; identify runs after that, so the DHT may not know the server yet
        yield* Effect.tryPromise({
          try: () => provider.libp2p.dial([...servers[1].addresses()]),
          catch: (cause) => new InteropError({ node: provider.name, operation: "dial", cause })
        })
        const identifiedBeforeProvide = yield* Effect.promise(() => identified(provider.libp2p, servers[1].peerId))
        yield* provider.provide(cid)

        // as after a provide on a settled node: every server stores the record
        yield* expectStoredEverywhere(servers, probe, cid, provider).pipe(
          Effect.mapError(
            (error) =>
              new InteropError({
                node: error.node,
                operation: error.operation,
                cause: `${String(error.cause)}; identify with ${servers[1].name} had ${identifiedBeforeProvide ? "" : "not "}finished when provide was called`
              })
          )
        )
        yield* expectStrangers(finder, provider)
        yield* findAndFetch(finder, provider, cid, bytes)
        expectLoopbackOnly([finder, provider])
      }),
    45_000
  )
})
