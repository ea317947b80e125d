/**
 * The request-handling suite's server, run in a child process so that its
 * CPU time and memory are its own: one libp2p host running one DHT in
 * server mode (this project's or @libp2p/kad-dht), its routing table
 * offered {@link ROUTING_TABLE_PEERS} made-up peers and its provider store
 * holding {@link PROVIDERS} providers of one CID.
 *
 * Commands: `start` ({@link StartServer} → {@link ServerInfo}) and `usage`
 * (→ {@link ServerUsage}). The host stops when the parent disconnects.
 *
 * @module
 */
import type { PeerInfo } from "@effect-kad/core"
import {
  DHTMode,
  filterLocalhostInResponses,
  type KadDHTService,
  MemoryProviderStore,
  mode,
  kadDHT as ourKadDHT,
  providerStore
} from "@effect-kad/dht"
import { RoutingTable } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { passthroughMapper, kadDHT as theirKadDHT } from "@libp2p/kad-dht"
import { Effect } from "effect"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { fastPeerIds } from "../lib/ids.js"
import { kadDhtVersion, PROTOCOL, startHost, stopHosts } from "./hosts.js"
import {
  madeUpAddress,
  PROVIDERS,
  providerCid,
  ROUTING_TABLE_PEERS,
  type ServerInfo,
  type ServerUsage,
  type StartServer
} from "./request-fixture.js"
import { serveCommands } from "./worker.js"

/** The parts of @libp2p/kad-dht's service object the filling uses; they are not in its public types. */
interface TheirInternals {
  readonly routingTable: {
    readonly size: number
    add(peer: PeerId): Promise<void>
    readonly kb: { verify: (contact: unknown) => Promise<boolean> }
  }
  readonly providers: {
    addProvider(cid: CID, provider: PeerId): Promise<void>
    getProviders(cid: CID): Promise<Array<PeerId>>
  }
}

let host: Libp2p | undefined

/** Made-up peers with made-up addresses, known to the host's peer store as any learned peer would be. */
const madeUpPeers = async (node: Libp2p, count: number, offset: number): Promise<Array<PeerInfo>> => {
  const peers = fastPeerIds(count).map((id, i) => ({ id, multiaddrs: [madeUpAddress(offset + i)] }))
  for (const peer of peers) await node.peerStore.merge(peer.id, { multiaddrs: [...peer.multiaddrs] })
  return peers
}

const startOurs = async (): Promise<ServerInfo> => {
  const store = new MemoryProviderStore()
  const node = await startHost(
    ourKadDHT([mode(DHTMode.server), filterLocalhostInResponses(false), providerStore(store)])
  )
  host = node
  const dht = (node.services.dht as KadDHTService).dht
  const tablePeers = await madeUpPeers(node, ROUTING_TABLE_PEERS, 0)
  await dht.effect(
    Effect.flatMap(RoutingTable, (table) => Effect.forEach(tablePeers, (peer) => table.tryAdd(peer), { discard: true }))
  )
  const key = (await providerCid()).multihash.bytes
  for (const provider of await madeUpPeers(node, PROVIDERS, ROUTING_TABLE_PEERS)) {
    await store.addProvider(key, provider)
  }
  return {
    peerId: node.peerId.toString(),
    addresses: node.getMultiaddrs().map(String),
    tableSize: await dht.routingTable.size(),
    providers: (await store.getProviders(key)).length,
    version: "workspace"
  }
}

const startTheirs = async (): Promise<ServerInfo> => {
  const node = await startHost(
    theirKadDHT({ protocol: PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper })
  )
  host = node
  const dht = node.services.dht as unknown as TheirInternals
  const tablePeers = await madeUpPeers(node, ROUTING_TABLE_PEERS, 0)
  // kad-dht pings a newcomer before admitting it, and made-up peers cannot
  // answer; admission is vouched for while filling, then the check is restored
  const kb = dht.routingTable.kb
  const verify = kb.verify
  kb.verify = async () => true
  try {
    for (const peer of tablePeers) await dht.routingTable.add(peer.id)
  } finally {
    kb.verify = verify
  }
  const cid = await providerCid()
  for (const provider of await madeUpPeers(node, PROVIDERS, ROUTING_TABLE_PEERS)) {
    await dht.providers.addProvider(cid, provider.id)
  }
  return {
    peerId: node.peerId.toString(),
    addresses: node.getMultiaddrs().map(String),
    tableSize: dht.routingTable.size,
    providers: (await dht.providers.getProviders(cid)).length,
    version: kadDhtVersion()
  }
}

serveCommands(
  {
    start: async (argument: StartServer): Promise<ServerInfo> => {
      if (host !== undefined) throw new Error("server already started")
      return argument.impl === "ours" ? startOurs() : startTheirs()
    },
    usage: async (): Promise<ServerUsage> => {
      const memory = process.memoryUsage()
      return { cpu: process.cpuUsage(), rss: memory.rss, heapUsed: memory.heapUsed }
    }
  },
  async () => {
    if (host !== undefined) await stopHosts([host])
  }
)
