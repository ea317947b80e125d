/**
 * The peer events of the libp2p `Network`, read from the host's identify,
 * peer-update and disconnect events.
 *
 * @module
 */
import type { IdentifyResult, PeerId, PeerUpdate } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import type * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type { PeerEvent } from "../../network/network.js"
import type { HostOps } from "./host.js"
import type { StreamPool } from "./stream-pool.js"

/**
 * Feeds host events into `events` for the scope's lifetime, and drops a
 * disconnected peer's idle streams from `pool`.
 *
 * @example
 * ```ts
 * yield* listenToHost(toHostOps(node), DEFAULT_PROTOCOL, events, pool)
 * ```
 */
export const listenToHost = (
  ops: HostOps,
  protocol: string,
  events: PubSub.PubSub<PeerEvent>,
  pool: StreamPool
): Effect.Effect<void, never, Scope.Scope> => {
  // Peers announced as servers, so "gone" is said once and only about a peer that was "seen".
  const servers = new Set<string>()
  const gone = (peer: PeerId): void => {
    if (servers.delete(peer.toString())) events.unsafeOffer({ _tag: "DhtServerGone", peer })
  }
  const onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const result = event.detail
    if (result.peerId.equals(ops.peerId)) return
    if (result.protocols.includes(protocol)) {
      servers.add(result.peerId.toString())
      events.unsafeOffer({ _tag: "DhtServerSeen", peer: { id: result.peerId, multiaddrs: result.listenAddrs } })
    } else if (result.protocols.length > 0) {
      gone(result.peerId)
    }
  }
  // Identify (or an identify push) rewrites the stored protocols; losing ours there means client mode.
  const onUpdate = (event: CustomEvent<PeerUpdate>): void => {
    const { peer, previous } = event.detail
    if (previous?.protocols.includes(protocol) === true && !peer.protocols.includes(protocol)) {
      servers.delete(peer.id.toString())
      events.unsafeOffer({ _tag: "DhtServerGone", peer: peer.id })
    }
  }
  const onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail
    servers.delete(peer.toString())
    pool.drop(peer.toString())
    events.unsafeOffer({ _tag: "Disconnected", peer })
  }
  return Effect.acquireRelease(
    Effect.sync(() => {
      ops.events.addEventListener("peer:identify", onIdentify)
      ops.events.addEventListener("peer:update", onUpdate)
      ops.events.addEventListener("peer:disconnect", onDisconnect)
    }),
    () =>
      Effect.sync(() => {
        ops.events.removeEventListener("peer:identify", onIdentify)
        ops.events.removeEventListener("peer:update", onUpdate)
        ops.events.removeEventListener("peer:disconnect", onDisconnect)
      })
  )
}
