/**
 * go's `lookupCheck`: ask a peer for the peers closest to itself. A peer
 * that answers in time is up and serves the DHT. An empty answer only
 * counts as a pass while our own table is still small, since any live
 * server in a populated network knows somebody.
 *
 * @module
 */

import { MessageType, type NetworkShape } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"

/** The size below which an empty FIND_NODE answer still passes. */
export interface LookupCheckTable {
  readonly size: Effect.Effect<number>
  readonly bucketSize: number
}

/**
 * A check usable as the routing table's liveness probe and as the
 * admission check of newly seen servers. Never fails: `false` on any error.
 */
export const lookupCheck =
  (network: NetworkShape, table: LookupCheckTable | undefined, timeoutMillis: number) =>
  (peer: PeerId): Effect.Effect<boolean> =>
    network
      .request(
        peer,
        {
          type: MessageType.FIND_NODE,
          key: peer.toMultihash().bytes as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: []
        },
        { timeoutMillis }
      )
      .pipe(
        Effect.flatMap((response) =>
          response.closerPeers.length > 0 || table === undefined
            ? Effect.succeed(true)
            : Effect.map(table.size, (size) => size < table.bucketSize)
        ),
        Effect.orElseSucceed(() => false)
      )
