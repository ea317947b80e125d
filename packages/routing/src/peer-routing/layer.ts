/**
 * The peer-routing half of a DHT node as one layer: routing table, network
 * size estimator, peer routing, the handler registry with FIND_NODE and
 * PING registered, and routing-table maintenance from network events.
 *
 * @module
 */

import type { PeerInfo } from "@effect-kad/core"
import { type InvalidOptionError, kadIdOfPeer, MessageType, Network } from "@effect-kad/core"
import { Effect, Layer } from "effect"
import { NetworkSizeEstimator } from "../netsize/netsize.js"
import type { DiversityConfig } from "../routing-table/config.js"
import { RoutingTable } from "../routing-table/routing-table.js"
import { PeerRoutingHandlers } from "./handlers.js"
import { RoutingTableMaintenance } from "./maintenance.js"
import { PeerRouting, type PeerRoutingConfig } from "./peer-routing.js"
import { RpcHandlers } from "./rpc.js"

/** Settings of {@link peerRoutingLayer}. */
export interface PeerRoutingLayerConfig extends PeerRoutingConfig {
  readonly maxRoutingTableSize?: number
  readonly diversity?: DiversityConfig
  readonly peerFilter?: (peer: PeerInfo) => boolean
  /** Deadline of the liveness check made before evicting a routing-table peer. */
  readonly livenessTimeoutMillis?: number
}

/**
 * A liveness check that does not use the deprecated PING: a FIND_NODE for
 * our own key answered in time proves the peer is up and serving the DHT.
 */
const livenessCheck = (timeoutMillis: number) =>
  Effect.map(
    Network,
    (network) => (peer: Parameters<typeof network.request>[0]) =>
      network
        .request(
          peer,
          {
            type: MessageType.FIND_NODE,
            key: network.self.toMultihash().bytes as Uint8Array<ArrayBuffer>,
            closerPeers: [],
            providerPeers: []
          },
          { timeoutMillis }
        )
        .pipe(
          Effect.as(true),
          Effect.orElseSucceed(() => false)
        )
  )

/**
 * Everything peer routing needs on top of a {@link Network}.
 *
 * @example
 * ```ts
 * const node = peerRoutingLayer(config).pipe(Layer.provide(hub.layer(peerId)))
 * ```
 */
export const peerRoutingLayer = (
  config: PeerRoutingLayerConfig
): Layer.Layer<RoutingTable | NetworkSizeEstimator | PeerRouting | RpcHandlers, InvalidOptionError, Network> => {
  const table = Layer.unwrapEffect(
    Effect.gen(function* () {
      const network = yield* Network
      const isAlive = yield* livenessCheck(config.livenessTimeoutMillis ?? config.requestTimeoutMillis)
      return RoutingTable.layer({
        self: kadIdOfPeer(network.self),
        bucketSize: config.k,
        maxRoutingTableSize: config.maxRoutingTableSize,
        diversity: config.diversity,
        peerFilter: config.peerFilter,
        isAlive
      })
    })
  )
  const core = PeerRouting.layer(config).pipe(
    Layer.provideMerge(NetworkSizeEstimator.layer()),
    Layer.provideMerge(table),
    Layer.provideMerge(RpcHandlers.layer)
  )
  return Layer.mergeAll(PeerRoutingHandlers, RoutingTableMaintenance).pipe(Layer.provideMerge(core))
}
