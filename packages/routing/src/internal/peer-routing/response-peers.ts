/**
 * The peers a DHT message carries, read and written with the address
 * filter: the closer peers of an answer we received (unusable addresses
 * dropped, the rest remembered), and the closer peers of an answer we give
 * (addresses the requester can use, none from a private network it cannot
 * reach). A peer on this machine sees every address.
 *
 * @module
 */
import {
  type AddressFilter,
  DECODE_LIMITS,
  isLoopbackAddress,
  kadIdOfKey,
  keepAllAddresses,
  type Message,
  type NetworkShape,
  peerInfoToWire
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Effect from "effect/Effect"
import { closerPeersOf } from "../../lookup/find-node.js"
import type { PeerRoutingShape } from "../../peer-routing/peer-routing.js"
import type { RoutingTableShape } from "../../routing-table/routing-table.js"

/** Drops loopback addresses: what `filterLocalhostInResponses` asks for. */
export const dropLoopback: AddressFilter = (addrs) => addrs.filter((addr) => !isLoopbackAddress(addr))

/** The peer-list operations of peer routing. */
export type ResponsePeers = Pick<
  PeerRoutingShape,
  "closerPeersFrom" | "peersForResponse" | "closerPeersFor" | "filterAddressesFrom"
>

/**
 * The peer lists of messages exchanged by `network`, with `addressFilter`
 * applied to every peer not on this machine.
 *
 * @example
 * ```ts
 * const { closerPeersFor } = responsePeers(network, table, 20, dropLoopback)
 * const closer = yield* closerPeersFor(key, requester)
 * ```
 */
export const responsePeers = (
  network: NetworkShape,
  table: RoutingTableShape,
  k: number,
  addressFilter: AddressFilter
): ResponsePeers => {
  const self = network.self

  /**
   * Whether `peer` is on this machine: it reached us (or we it) over
   * loopback, so it shares this node's view of addresses. The connection
   * says so from the first request; the peer store only after identify.
   */
  const onThisMachine = (peer: PeerId) =>
    Effect.gen(function* () {
      const via = yield* network.connectionAddressesOf(peer)
      const addrs = via.length > 0 ? via : yield* network.addressesOf(peer)
      return addrs.length > 0 && addrs.every(isLoopbackAddress)
    })

  /** The filter for addresses exchanged with `peer`; none for a peer on this machine. */
  const filterFor = (peer: PeerId) =>
    addressFilter === keepAllAddresses
      ? Effect.succeed(keepAllAddresses)
      : Effect.map(onThisMachine(peer), (local) => (local ? keepAllAddresses : addressFilter))

  const closerPeersFrom: PeerRoutingShape["closerPeersFrom"] = (responder, response) =>
    response.closerPeers.length === 0
      ? Effect.succeed([])
      : Effect.flatMap(filterFor(responder), (filter) => closerPeersOf(network, response, self, filter))

  const filterAddressesFrom: PeerRoutingShape["filterAddressesFrom"] = (responder, peers) =>
    peers.every((peer) => peer.multiaddrs.length === 0)
      ? Effect.succeed([...peers])
      : Effect.map(filterFor(responder), (filter) =>
          peers.map((peer) => {
            const kept = filter(peer.multiaddrs)
            return kept.length === peer.multiaddrs.length ? peer : { id: peer.id, multiaddrs: kept }
          })
        )

  // a peer store can hold more addresses than any peer decodes in one entry; send the newest that fit
  const toWire = (id: PeerId, multiaddrs: ReadonlyArray<Multiaddr>) =>
    peerInfoToWire({ id, multiaddrs: multiaddrs.slice(-DECODE_LIMITS.addrs) })

  const peersForResponse: PeerRoutingShape["peersForResponse"] = (peers, requester) =>
    Effect.map(filterFor(requester), (filter) => peers.map((peer) => toWire(peer.id, filter(peer.multiaddrs))))

  const closerPeersFor: PeerRoutingShape["closerPeersFor"] = (key, requester) =>
    Effect.gen(function* () {
      const entries = yield* table.nearest(kadIdOfKey(key), k + 1)
      const filter = yield* filterFor(requester)
      const peers: Array<Message.Peer> = []
      for (const entry of entries) {
        if (entry.id.equals(requester) || peers.length === k) continue
        const known = entry.multiaddrs.length > 0 ? entry.multiaddrs : yield* network.addressesOf(entry.id)
        const kept = filter(known)
        // a peer reachable only on someone else's private network is no use to the requester
        if (kept.length === 0 && known.length > 0) continue
        peers.push(toWire(entry.id, kept))
      }
      return peers
    })

  return { closerPeersFrom, peersForResponse, closerPeersFor, filterAddressesFrom }
}
