/**
 * Keeps the routing table in step with what the network layer learns:
 * peers that advertise the DHT protocol as servers are offered to the
 * table, peers that stop advertising it are removed. Client-mode peers
 * never enter, as the spec requires.
 *
 * @module
 */
import { Network } from "@effect-kad/core"
import { Effect, Layer, Stream } from "effect"
import { RoutingTable } from "../routing-table/routing-table.js"

/**
 * Follows the network's peer events for the life of the scope. Peers
 * already connected as servers when it starts are offered too.
 */
export const maintainRoutingTable = Effect.gen(function* () {
  const network = yield* Network
  const table = yield* RoutingTable
  yield* Stream.runForEach(network.events, (event) => {
    switch (event._tag) {
      case "DhtServerSeen":
        return table.tryAdd(event.peer)
      case "DhtServerGone":
        return table.remove(event.peer)
      case "Disconnected":
        // go keeps disconnected peers until a query to them fails; so do we
        return Effect.void
    }
  }).pipe(Effect.forkScoped)
  const connected = yield* network.connectedServers
  yield* Effect.forEach(connected, (peer) => table.tryAdd(peer), { discard: true })
})

/** {@link maintainRoutingTable} as a layer. */
export const RoutingTableMaintenance = Layer.scopedDiscard(maintainRoutingTable)
