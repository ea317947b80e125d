/**
 * Connection-manager tags: the host's connection manager prunes the
 * connections whose peers carry the lowest tag values first, so a DHT that
 * tags nothing loses its routing-table peers, and its closest neighbours,
 * to whatever else the node talks to. As `@libp2p/kad-dht` does, every
 * routing-table peer is tagged `kad-peer` (value 1) and the `k` peers
 * closest to this node are tagged `kad-close` (value 50) plus a
 * `keep-alive-kad-dht` tag, which js-libp2p also reconnects after a
 * restart.
 *
 * @module
 */
import type { Libp2pNetwork } from "@effect-kad/core"
import { RoutingTable } from "@effect-kad/routing"
import type { PeerId, TagOptions } from "@libp2p/interface"
import { KEEP_ALIVE } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

/** The tag every routing-table peer carries (js's `kad-peer`). */
export const KAD_PEER_TAG = "kad-peer"
/** Value of {@link KAD_PEER_TAG}. */
export const KAD_PEER_TAG_VALUE = 1
/** The tag the `k` peers closest to this node carry (js's `kad-close`). */
export const KAD_CLOSE_TAG = "kad-close"
/** Value of {@link KAD_CLOSE_TAG}: above everything a routing-table peer gets. */
export const KAD_CLOSE_TAG_VALUE = 50
/** The keep-alive tag of the closest peers; js-libp2p keeps and redials peers tagged `keep-alive*`. */
export const KAD_KEEP_ALIVE_TAG = `${KEEP_ALIVE}-kad-dht`

/** Settings of {@link layer}. */
export interface PeerTagsOptions {
  /** How many of the peers closest to this node are tagged keep-alive. Default: the bucket size. */
  readonly closeCount?: number
}

type Tags = Record<string, TagOptions | undefined>

/**
 * Keeps the host's peer tags in step with the routing table for the life
 * of the layer, and takes them off when it ends (a stopped DHT no longer
 * holds those connections open). Tagging is best effort: a peer store that
 * refuses a write costs that tag, never the DHT.
 *
 * @example
 * ```ts
 * const tagged = PeerTags.layer(node.peerStore).pipe(Layer.provide(Dht.layer(node, options)))
 * ```
 */
export const layer = (
  peerStore: Libp2pNetwork.PeerStoreLike,
  options: PeerTagsOptions = {}
): Layer.Layer<never, never, RoutingTable> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const table = yield* RoutingTable
      const closeCount = options.closeCount ?? table.bucketSize
      const members = new Map<string, PeerId>()
      let close = new Map<string, PeerId>()

      const tag = (peer: PeerId, tags: Tags) =>
        Effect.tryPromise(() => peerStore.merge(peer, { tags })).pipe(
          Effect.catchAll((error) =>
            Effect.logDebug("tagging a peer failed").pipe(
              Effect.annotateLogs({ peer: peer.toString(), error: String(error) })
            )
          )
        )

      /** Moves the close tags to the table's current `closeCount` nearest peers. */
      const retagClose = Effect.gen(function* () {
        const nearest = yield* table.nearest(table.localKadId, closeCount)
        const next = new Map(nearest.map((entry) => [entry.id.toString(), entry.id]))
        for (const [key, peer] of close) {
          if (!next.has(key)) yield* tag(peer, { [KAD_CLOSE_TAG]: undefined, [KAD_KEEP_ALIVE_TAG]: undefined })
        }
        for (const [key, peer] of next) {
          if (!close.has(key)) {
            yield* tag(peer, {
              [KAD_CLOSE_TAG]: { value: KAD_CLOSE_TAG_VALUE },
              [KAD_KEEP_ALIVE_TAG]: { value: 1 }
            })
          }
        }
        close = next
      })

      const added = (peer: PeerId) =>
        Effect.suspend(() => {
          members.set(peer.toString(), peer)
          return tag(peer, { [KAD_PEER_TAG]: { value: KAD_PEER_TAG_VALUE } })
        })

      const removed = (peer: PeerId) =>
        Effect.suspend(() => {
          members.delete(peer.toString())
          return tag(peer, { [KAD_PEER_TAG]: undefined })
        })

      // subscribed before the current members are read, so no change falls between the two
      const events = yield* table.subscribe
      for (const entry of yield* table.listPeers) yield* added(entry.id)
      yield* retagClose
      yield* events.pipe(
        Stream.runForEach((event) =>
          Effect.zipRight(event._tag === "PeerAdded" ? added(event.peer.id) : removed(event.peer.id), retagClose)
        ),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          for (const peer of members.values()) yield* tag(peer, { [KAD_PEER_TAG]: undefined })
          for (const peer of close.values()) {
            yield* tag(peer, { [KAD_CLOSE_TAG]: undefined, [KAD_KEEP_ALIVE_TAG]: undefined })
          }
        })
      )
    })
  )
