/**
 * Warm restarts: the routing table's peers, with their addresses, are
 * saved to the datastore periodically and when the DHT stops, and offered
 * back to the table when it starts. A restarted node rejoins through the
 * peers it knew instead of only its current connections (or bootstrap
 * peers it may not have).
 *
 * The saved peers come back as replaceable, like bootstrap peers: a peer
 * that left while this node was down fails its first query and is dropped,
 * and organically found peers take the slots of the others.
 *
 * @module
 */
import { Network, type PeerInfo } from "@effect-kad/core"
import { RoutingTable } from "@effect-kad/routing"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { type Datastore, Key } from "interface-datastore"

/** Where the table is saved (beside the records under `/dht/record`). */
export const ROUTING_TABLE_KEY = new Key("/dht/routing-table")

/** Time between two saves while the DHT runs. */
export const DEFAULT_SAVE_INTERVAL = Duration.minutes(5)

const SavedTable = Schema.parseJson(
  Schema.Struct({
    version: Schema.Literal(1),
    peers: Schema.Array(Schema.Struct({ id: Schema.String, multiaddrs: Schema.Array(Schema.String) }))
  })
)

/** Settings of {@link layer}. */
export interface TablePersistenceOptions {
  /** Time between two saves while the DHT runs (default 5 minutes); it is saved on stop too. */
  readonly saveInterval?: Duration.DurationInput
}

/** The saved peers that still parse; an entry that does not is skipped, never fatal. */
const decodePeers = (saved: typeof SavedTable.Type): Array<PeerInfo> => {
  const peers: Array<PeerInfo> = []
  for (const entry of saved.peers) {
    try {
      peers.push({ id: peerIdFromString(entry.id), multiaddrs: entry.multiaddrs.map((a) => multiaddr(a)) })
    } catch {
      // a peer ID or address this version cannot read: that peer is not worth failing the start for
    }
  }
  return peers
}

/**
 * Loads the saved table into the routing table when built, then saves it
 * every `saveInterval` and once more when the scope closes.
 *
 * @example
 * ```ts
 * const warm = TablePersistence.layer(datastore).pipe(Layer.provide(layerPeerRouting(config)))
 * ```
 */
export const layer = (
  datastore: Datastore,
  options: TablePersistenceOptions = {}
): Layer.Layer<never, never, RoutingTable | Network> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const table = yield* RoutingTable
      const network = yield* Network
      const interval = Duration.decode(options.saveInterval ?? DEFAULT_SAVE_INTERVAL)

      const load = Effect.gen(function* () {
        const bytes = yield* Effect.tryPromise(async () => datastore.get(ROUTING_TABLE_KEY))
        const saved = yield* Schema.decode(SavedTable)(new TextDecoder().decode(bytes))
        let added = 0
        for (const peer of decodePeers(saved)) {
          if (peer.id.equals(network.self)) continue
          if (peer.multiaddrs.length > 0) yield* network.rememberAddresses(peer)
          if (yield* table.tryAdd(peer, { isReplaceable: true })) added++
        }
        yield* Effect.logDebug(`routing table: ${added} saved peers restored`)
      })

      const save = Effect.gen(function* () {
        const peers = []
        for (const entry of yield* table.listPeers) {
          const multiaddrs = entry.multiaddrs.length > 0 ? entry.multiaddrs : yield* network.addressesOf(entry.id)
          peers.push({ id: entry.id.toString(), multiaddrs: multiaddrs.map(String) })
        }
        const text = yield* Schema.encode(SavedTable)({ version: 1, peers })
        yield* Effect.tryPromise(async () => datastore.put(ROUTING_TABLE_KEY, new TextEncoder().encode(text)))
      })

      // nothing saved yet (a first start) looks the same as an unreadable entry: start cold
      yield* load.pipe(Effect.catchAll(() => Effect.void))
      const saveLogged = save.pipe(
        Effect.catchAll((error) => Effect.logWarning("saving the routing table failed", error))
      )
      yield* Effect.addFinalizer(() => saveLogged)
      if (Duration.isFinite(interval) && Duration.toMillis(interval) > 0) {
        yield* saveLogged.pipe(Effect.delay(interval), Effect.forever, Effect.forkScoped)
      }
    })
  )
