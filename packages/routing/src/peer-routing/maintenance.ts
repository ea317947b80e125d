/**
 * Keeps the routing table in step with what the network layer learns:
 * peers that advertise the DHT protocol as servers are offered to the
 * table (after a lookup check, as go-libp2p-kad-dht does), peers that stop
 * advertising it are removed. Client-mode peers never enter, as the spec
 * requires.
 *
 * @module
 */
import { Network, type PeerInfo } from "@effect-kad/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { RoutingTable } from "../routing-table/routing-table.js"
import { lookupCheck } from "./lookup-check.js"
import { PeerRouting } from "./peer-routing.js"

/** Settings of the routing-table maintenance loop (`maintainRoutingTable`). */
export interface MaintenanceConfig {
  /** Concurrent admission checks; 0 admits advertised servers without asking them. */
  readonly lookupCheckConcurrency: number
  /** Deadline of one admission check. */
  readonly lookupCheckTimeoutMillis: number
}

/**
 * Follows the network's peer events for the life of the scope. Peers
 * already connected as servers when it starts are offered too.
 */
export const maintainRoutingTable = (config: MaintenanceConfig) =>
  Effect.gen(function* () {
    const network = yield* Network
    const table = yield* RoutingTable
    const routing = yield* PeerRouting
    const check = lookupCheck(network, table, config.lookupCheckTimeoutMillis)
    const slots = yield* Effect.makeSemaphore(Math.max(1, config.lookupCheckConcurrency))
    const checking = new Set<string>()

    /**
     * The check, unless the table takes the peer without it: most servers
     * are seen because one of our queries just dialed them, and their
     * answer admits them. Nor is it worth a request when the peer's bucket
     * is full of peers that stay.
     */
    const checkThenAdd = (peer: PeerInfo): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* routing.requestsSettled(peer.id)
        if ((yield* table.find(peer.id))._tag === "Some") return yield* Effect.asVoid(table.tryAdd(peer))
        if (!(yield* table.isUsefulNewPeer(peer.id))) return
        yield* slots.withPermitsIfAvailable(1)(
          Effect.gen(function* () {
            if (yield* check(peer.id)) yield* table.tryAdd(peer)
          })
        )
      })

    const admit = (peer: PeerInfo): Effect.Effect<void, never, Scope.Scope> => {
      if (config.lookupCheckConcurrency <= 0) return Effect.asVoid(table.tryAdd(peer))
      const key = peer.id.toString()
      if (checking.has(key)) return Effect.void
      return Effect.flatMap(table.find(peer.id), (known) => {
        // a peer already in the table only needs its addresses refreshed
        if (known._tag === "Some") return Effect.asVoid(table.tryAdd(peer))
        checking.add(key)
        return checkThenAdd(peer).pipe(
          Effect.ensuring(Effect.sync(() => checking.delete(key))),
          Effect.forkScoped,
          Effect.asVoid
        )
      })
    }

    yield* Stream.runForEach(network.events, (event) => {
      switch (event._tag) {
        case "DhtServerSeen":
          return admit(event.peer)
        case "DhtServerGone":
          return Effect.asVoid(table.remove(event.peer))
        case "Disconnected":
          // go keeps disconnected peers until a query to them fails; so do we
          return Effect.void
      }
    }).pipe(Effect.forkScoped)
    const connected = yield* network.connectedServers
    yield* Effect.forEach(connected, admit, { discard: true })
  })

/** The routing-table maintenance loop (`maintainRoutingTable`) as a layer. */
export const layerRoutingTableMaintenance = (config: MaintenanceConfig) =>
  Layer.scopedDiscard(maintainRoutingTable(config))
