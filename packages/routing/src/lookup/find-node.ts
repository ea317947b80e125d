/**
 * The FIND_NODE query used by peer lookups, and the decoding of the peers a
 * response carries (shared with GET_VALUE and GET_PROVIDERS responses).
 *
 * @module
 */

import {
  type AddressFilter,
  keepAllAddresses,
  type Message,
  MessageType,
  type NetworkShape,
  type PeerInfo,
  peerInfoFromWire,
  type RequestError,
  type RequestOptions
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import type { QueryOutcome } from "./lookup.js"

/**
 * Decodes the `closerPeers` of a response, dropping unparsable entries and
 * this node itself, and records their addresses in the peer store as the
 * spec asks. `filter` keeps the addresses worth dialing; a peer given only
 * with addresses it drops is left out, since nothing of it could be dialed
 * (a peer given with no address at all is kept, to be found later).
 */
export const closerPeersOf = (
  network: NetworkShape,
  response: Message,
  self: PeerId = network.self,
  filter: AddressFilter = keepAllAddresses
): Effect.Effect<Array<PeerInfo>> =>
  Effect.gen(function* () {
    const peers: Array<PeerInfo> = []
    for (const wire of response.closerPeers) {
      const info = peerInfoFromWire(wire)
      if (info === undefined || info.id.equals(self)) continue
      if (info.multiaddrs.length === 0) {
        peers.push(info)
        continue
      }
      const kept = filter(info.multiaddrs)
      if (kept.length === 0) continue
      const usable: PeerInfo = kept.length === info.multiaddrs.length ? info : { id: info.id, multiaddrs: kept }
      yield* network.rememberAddresses(usable)
      peers.push(usable)
    }
    return peers
  })

/**
 * A lookup query that sends `FIND_NODE(key)` and returns the closer peers.
 *
 * @example
 * ```ts
 * const query = findNodeQuery(network, key)
 * const result = yield* runLookup({ ...params, target: kadIdOfKey(key), seeds, self: network.self, query })
 * ```
 */
export const findNodeQuery =
  (network: NetworkShape, key: Uint8Array, options?: RequestOptions) =>
  (peer: PeerInfo): Effect.Effect<QueryOutcome<never>, RequestError> =>
    Effect.gen(function* () {
      const response = yield* network.request(
        peer.id,
        { type: MessageType.FIND_NODE, key: key as Uint8Array<ArrayBuffer>, closerPeers: [], providerPeers: [] },
        options
      )
      return { closer: yield* closerPeersOf(network, response) }
    })
