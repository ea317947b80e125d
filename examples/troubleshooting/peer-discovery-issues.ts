/**
 * Troubleshooting peer discovery: make sure the routing table is not too
 * small, and try several ways to find a peer.
 *
 * @module
 */
import type { IpfsDHT, PeerInfo } from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import type { Libp2p } from "libp2p"

/** Bootstraps again when the routing table holds fewer than `minPeers` peers. */
export const ensureRoutingTable = async (
  dht: IpfsDHT,
  minPeers = 5
): Promise<{ readonly before: number; readonly after: number; readonly bootstrapped: boolean }> => {
  const before = await dht.routingTable.size()
  if (before >= minPeers) return { before, after: before, bootstrapped: false }
  await dht.bootstrap()
  return { before, after: await dht.routingTable.size(), bootstrapped: true }
}

/** How {@link findPeerMultiMethod} found the peer. */
export type DiscoveryMethod = "dht" | "peerstore" | "bootstrap-retry"

/**
 * The guide's `findPeerMultiMethod`: a DHT lookup, then the host's peer
 * store, then a bootstrap and a second lookup.
 */
export const findPeerMultiMethod = async (
  dht: IpfsDHT,
  host: Libp2p,
  peerId: PeerId
): Promise<{ readonly peer: PeerInfo | null; readonly method: DiscoveryMethod | null }> => {
  // method 1: DHT lookup (which answers from the peer store first when it knows the peer)
  const result = await dht.findPeer(peerId)
  if (result !== null) return { peer: result, method: "dht" }

  // method 2: the local peer store, which other protocols (identify, mDNS) also fill
  const known = await host.peerStore.get(peerId).catch(() => undefined)
  if (known !== undefined && known.addresses.length > 0) {
    return { peer: { id: peerId, multiaddrs: known.addresses.map((a) => a.multiaddr) }, method: "peerstore" }
  }

  // method 3: bootstrap and retry
  await dht.bootstrap()
  const retried = await dht.findPeer(peerId)
  return retried === null ? { peer: null, method: null } : { peer: retried, method: "bootstrap-retry" }
}
