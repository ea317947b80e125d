/**
 * The peer-routing half of a DHT node as one layer: routing table, network
 * size estimator, peer routing, the handler registry with FIND_NODE and
 * PING registered, and routing-table maintenance from network events.
 *
 * @module
 */

import type { PeerInfo } from "@effect-kad/core"
import { type InvalidOptionError, kadIdOfPeer, type MessageType, Network } from "@effect-kad/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { NetworkSizeEstimator } from "../netsize/netsize.js"
import type { DiversityConfig } from "../routing-table/config.js"
import { RoutingTable } from "../routing-table/routing-table.js"
import { layerPeerRoutingHandlers } from "./handlers.js"
import { lookupCheck } from "./lookup-check.js"
import { layerRoutingTableMaintenance } from "./maintenance.js"
import { PeerRouting, type PeerRoutingConfig } from "./peer-routing.js"
import { RpcHandlers } from "./rpc.js"

/** Settings of {@link layerPeerRouting}. */
export interface PeerRoutingLayerConfig extends PeerRoutingConfig {
  readonly maxRoutingTableSize?: number
  readonly diversity?: DiversityConfig
  readonly peerFilter?: (peer: PeerInfo) => boolean
  /** Deadline of the liveness check made before evicting a routing-table peer. */
  readonly livenessTimeoutMillis?: number
  /**
   * How many newly seen servers may be checked with a FIND_NODE at once
   * before they enter the routing table; 0 admits them unchecked. Servers
   * seen while every slot is busy wait for the next time they are seen.
   */
  readonly lookupCheckConcurrency?: number
  /** Message types whose handlers are never registered, so such requests go unanswered. */
  readonly disabledMessageTypes?: ReadonlyArray<MessageType>
}

/**
 * Everything peer routing needs on top of a {@link Network}.
 *
 * @example
 * ```ts
 * const node = layerPeerRouting(config).pipe(Layer.provide(hub.layer(peerId)))
 * ```
 */
export const layerPeerRouting = (
  config: PeerRoutingLayerConfig
): Layer.Layer<RoutingTable | NetworkSizeEstimator | PeerRouting | RpcHandlers, InvalidOptionError, Network> => {
  const table = Layer.unwrapEffect(
    Effect.gen(function* () {
      const network = yield* Network
      // the table is not built yet: an empty answer passes, the probe only has to prove liveness
      const isAlive = lookupCheck(network, undefined, config.livenessTimeoutMillis ?? config.requestTimeoutMillis)
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
    Layer.provideMerge(
      config.disabledMessageTypes === undefined
        ? RpcHandlers.layer
        : RpcHandlers.layerWithout(config.disabledMessageTypes)
    )
  )
  const maintenance = layerRoutingTableMaintenance({
    lookupCheckConcurrency: config.lookupCheckConcurrency ?? 0,
    lookupCheckTimeoutMillis: config.livenessTimeoutMillis ?? config.requestTimeoutMillis
  })
  return Layer.mergeAll(layerPeerRoutingHandlers, maintenance).pipe(Layer.provideMerge(core))
}
