/**
 * Server-side handlers of the peer-routing messages: FIND_NODE and the
 * deprecated PING (answered for old clients, never sent).
 *
 * @module
 */

import { type Message, MessageType, Network, type PeerInfo, RequestRefusedError } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromMultihash } from "@libp2p/peer-id"
import * as Effect from "effect/Effect"
import * as Digest from "multiformats/hashes/digest"
import { PeerRouting } from "./peer-routing.js"
import { RpcHandlers } from "./rpc.js"

const peerIdOfKey = (key: Uint8Array): PeerId | undefined => {
  try {
    return peerIdFromMultihash(Digest.decode(key))
  } catch {
    return undefined
  }
}

/**
 * Answers FIND_NODE: the `k` closest peers of the routing table, never the
 * requester, and the target itself first whenever its addresses are known
 * (including when the target is this node).
 */
export const handleFindNode = (from: PeerId, request: Message) =>
  Effect.gen(function* () {
    const routing = yield* PeerRouting
    const network = yield* Network
    const key = request.key
    if (key === undefined || key.byteLength === 0)
      return yield* new RequestRefusedError({ reason: "FIND_NODE without a key" })
    const closer = yield* routing.closerPeersFor(key, from)
    const target = peerIdOfKey(key)
    if (target !== undefined && !target.equals(from)) {
      const targetKey = target.toString()
      let info: PeerInfo | undefined
      if (target.equals(network.self)) info = yield* network.selfInfo
      else {
        const addrs = yield* network.addressesOf(target)
        if (addrs.length > 0) info = { id: target, multiaddrs: addrs }
      }
      if (info !== undefined) {
        const already = closer.findIndex((p) => p.id !== undefined && peerIdOfKey(p.id)?.toString() === targetKey)
        if (already >= 0) closer.splice(already, 1)
        const [wire] = yield* routing.peersForResponse([info], from)
        closer.unshift(wire)
      }
    }
    const response: Message = { type: MessageType.FIND_NODE, closerPeers: closer, providerPeers: [] }
    return response
  })

/** Answers the deprecated PING by echoing it, as go-libp2p-kad-dht still does. */
export const handlePing = (_from: PeerId, request: Message) =>
  Effect.succeed<Message>({ type: MessageType.PING, closerPeers: [], providerPeers: [], key: request.key })

/** Registers FIND_NODE and PING with the node's {@link RpcHandlers}. */
export const layerPeerRoutingHandlers = RpcHandlers.register({
  [MessageType.FIND_NODE]: handleFindNode,
  [MessageType.PING]: handlePing
})
