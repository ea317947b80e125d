/**
 * Peers as the SDK passes them around (`PeerInfo`: ID plus addresses) and
 * their wire form (`Message.Peer`).
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { peerIdFromMultihash } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import * as Digest from "multiformats/hashes/digest"
import { Message } from "./message.generated.js"

/** A peer and the addresses it can be reached at (the guide's `AddrInfo`). */
export interface PeerInfo {
  readonly id: PeerId
  readonly multiaddrs: ReadonlyArray<Multiaddr>
}

/** Encodes a peer for `closerPeers` / `providerPeers`. */
export const peerInfoToWire = (
  peer: PeerInfo,
  connection: Message.ConnectionType = Message.ConnectionType.NOT_CONNECTED
): Message.Peer => ({
  id: peer.id.toMultihash().bytes as Uint8Array<ArrayBuffer>,
  addrs: peer.multiaddrs.map((ma) => ma.bytes as Uint8Array<ArrayBuffer>),
  connection
})

/**
 * Decodes a wire peer. Returns undefined for an unparsable peer ID;
 * unparsable addresses are skipped rather than failing the whole peer.
 */
export const peerInfoFromWire = (wire: Message.Peer): PeerInfo | undefined => {
  if (wire.id == null || wire.id.byteLength === 0) return undefined
  // The decoder hands out views into the whole received frame; copying the
  // few bytes kept here stops a stored peer from pinning that frame in memory.
  let id: PeerId
  try {
    id = peerIdFromMultihash(Digest.decode(wire.id.slice()))
  } catch {
    return undefined
  }
  const multiaddrs: Array<Multiaddr> = []
  for (const bytes of wire.addrs) {
    try {
      multiaddrs.push(multiaddr(bytes.slice()))
    } catch {
      // a peer may advertise transports we do not know; keep the rest
    }
  }
  return { id, multiaddrs }
}
