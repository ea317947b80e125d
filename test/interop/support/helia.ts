/**
 * Helia 7 nodes whose libp2p runs this project's DHT, and the small
 * network of our DHT servers they join.
 *
 * Helia is created with `createHelia`, its usual entry point, with every
 * default that would leave 127.0.0.1 switched off: the libp2p options name
 * every field Helia's defaults would otherwise fill (transports, listen
 * addresses, peer discovery, services), so no bootstrap list, mDNS,
 * delegated routing, autoNAT, UPnP or auto-TLS is configured, and the HTTP
 * part gets no delegated routers and no recursive gateways. Helia's routing
 * is then only its libp2p router, which goes through libp2p's content
 * routing to our `kadDHT` service.
 *
 * @module
 */

import { DHTMode, filterLocalhostInResponses, type KadDHTService, mode, kadDHT as ourKadDHT } from "@effect-kad/dht"
import { unixfs } from "@helia/unixfs"
import { type Identify, identify } from "@libp2p/identify"
import type { PeerId, PeerInfo } from "@libp2p/interface"
import { peerIdFromCID } from "@libp2p/peer-id"
import { type Ping, ping } from "@libp2p/ping"
import { Effect, type Scope } from "effect"
import { createHelia, type Helia } from "helia"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { eventually } from "./network.js"
import { connect, InteropError, loopbackConfig, type OurDhtNode, startOurNode } from "./nodes.js"

/** The libp2p services of a Helia node here: identify, ping and our DHT. */
export type HeliaServices = {
  readonly identify: Identify
  readonly ping: Ping
  readonly dht: KadDHTService
}

/** A running Helia node with the libp2p host under it. */
export interface HeliaNode {
  readonly name: string
  readonly helia: Helia
  readonly libp2p: Libp2p<HeliaServices>
  readonly peerId: PeerId
  /** Adds `bytes` as a UnixFS file to this node's blockstore. */
  readonly addFile: (bytes: Uint8Array) => Effect.Effect<CID, InteropError>
  /** Announces through Helia's routing (libp2p content routing, then our DHT) that this node provides `cid`. */
  readonly provide: (cid: CID) => Effect.Effect<void, InteropError>
  /** Every provider Helia's routing returns for `cid`. */
  readonly findProviders: (cid: CID) => Effect.Effect<ReadonlyArray<PeerInfo>, InteropError>
  /** The whole file at `cid`, read with UnixFS (missing blocks come over bitswap). */
  readonly cat: (cid: CID) => Effect.Effect<Uint8Array, InteropError>
  /** Names of the routers Helia's routing holds. */
  readonly routerNames: () => ReadonlyArray<string>
}

/** Deadline of one Helia operation on loopback. */
const HELIA_TIMEOUT_MS = 20_000

const attempt = <A>(node: string, operation: string, run: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({
    try: (signal) => run(AbortSignal.any([signal, AbortSignal.timeout(HELIA_TIMEOUT_MS)])),
    catch: (cause) => new InteropError({ node, operation, cause })
  })

/**
 * The libp2p options of a Helia node: every field Helia's `libp2pDefaults`
 * would fill is given, since Helia replaces its defaults field by field.
 */
export const heliaLibp2pOptions = (role: "server" | "client") => ({
  ...loopbackConfig(),
  peerDiscovery: [],
  services: {
    identify: identify(),
    ping: ping(),
    dht: ourKadDHT([mode(role === "server" ? DHTMode.server : DHTMode.client), filterLocalhostInResponses(false)])
  }
})

/** Starts a Helia node under the scope; it stops (with its libp2p host) when the scope closes. */
export const startHelia = (
  name: string,
  role: "server" | "client" = "client"
): Effect.Effect<HeliaNode, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const helia = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const node = createHelia({
            libp2p: heliaLibp2pOptions(role),
            // no delegated routing servers and no recursive gateways: nothing leaves 127.0.0.1
            http: { delegatedRouters: [], recursiveGateways: [] }
          })
          await node.start()
          return node
        },
        catch: (cause) => new InteropError({ node: name, operation: "start", cause })
      }),
      // stopping Helia stops its libp2p host; bounded so one stuck node cannot hold up the rest
      (node) => Effect.promise(() => node.stop()).pipe(Effect.timeoutOption("10 seconds"), Effect.ignore)
    )
    // Helia types its libp2p with its own default services; this one runs only those configured above
    const libp2p = helia.libp2p as unknown as Libp2p<HeliaServices>
    const fs = unixfs(helia)
    const node: HeliaNode = {
      name,
      helia,
      libp2p,
      peerId: libp2p.peerId,
      addFile: (bytes) => attempt(name, "unixfs addBytes", (signal) => fs.addBytes(bytes, { signal })),
      provide: (cid) => attempt(name, "routing.provide", (signal) => helia.routing.provide(cid, { signal })),
      findProviders: (cid) =>
        attempt(name, "routing.findProviders", async (signal) => {
          const found = new Map<string, PeerInfo>()
          for await (const provider of helia.routing.findProviders(cid, { signal })) {
            // Helia's routers name providers by CID
            const id = peerIdFromCID(provider.id)
            found.set(id.toString(), { id, multiaddrs: [...provider.multiaddrs] })
          }
          return [...found.values()]
        }),
      cat: (cid) =>
        attempt(name, "unixfs cat", async (signal) => {
          const chunks: Array<Uint8Array> = []
          for await (const chunk of fs.cat(cid, { signal })) chunks.push(chunk)
          return Buffer.concat(chunks)
        }),
      routerNames: () =>
        (helia.routing as unknown as { routers: ReadonlyArray<{ name: string }> }).routers.map((r) => r.name)
    }
    return node
  })

/** Whether `host` has run identify with `peer` (its peer store then lists the peer's protocols). */
export const identified = (host: Libp2p, peer: PeerId): Promise<boolean> =>
  host.peerStore.get(peer).then(
    (p) => p.protocols.length > 0,
    () => false
  )

/** Whether `id` is in the routing table of our DHT on `host`. */
export const inRoutingTable = (host: Libp2p<HeliaServices>, id: PeerId): Effect.Effect<boolean, InteropError> =>
  attempt(host.peerId.toString(), "routingTable.listPeers", async () =>
    (await host.services.dht.dht.routingTable.listPeers()).some((entry) => entry.id.equals(id))
  )

/**
 * `count` of our DHT servers on plain libp2p hosts, linked in a ring and
 * refreshed until each has every other in its routing table.
 */
export const startServers = (count: number): Effect.Effect<ReadonlyArray<OurDhtNode>, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const servers = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => startOurNode(`ours-server-${i}`, "server"),
      { concurrency: count }
    )
    yield* Effect.forEach(servers, (server, i) => connect(server, servers[(i + 1) % count]), { concurrency: count })
    yield* eventually(
      Effect.gen(function* () {
        yield* Effect.forEach(servers, (server) => server.refresh, { concurrency: count, discard: true })
        for (const server of servers) {
          for (const other of servers) {
            if (other !== server && !(yield* server.routingTableHas(other.peerId))) {
              return yield* new InteropError({
                node: server.name,
                operation: "routing table convergence",
                cause: `missing ${other.name}`
              })
            }
          }
        }
      }),
      "30 seconds"
    )
    return servers
  })
