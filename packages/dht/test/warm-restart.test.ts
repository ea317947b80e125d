import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, Network, type PeerInfo } from "@effect-kad/core"
import { DHTConfig, type DHTOption } from "@effect-kad/options"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { MemoryDatastore } from "datastore-core"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import {
  bootstrapPeers,
  DHTMode,
  Dht,
  datastore as datastoreOption,
  disableAutoRefresh,
  mode,
  TablePersistence
} from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

/** A server node on the hub, living in `scope`. */
const start = (hub: MemoryNetworkHub, id: PeerId, options: ReadonlyArray<DHTOption>, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const config = yield* DHTConfig.fromOptions([mode(DHTMode.server), disableAutoRefresh(), ...options])
    const context = yield* Layer.buildWithScope(Dht.layerWith(config, hub.layer(id)), scope)
    const run = <A, E>(effect: Effect.Effect<A, E, Dht | RoutingTable | Network>) => Effect.provide(effect, context)
    return { id, run }
  })

const tableIds = Effect.map(
  Effect.flatMap(RoutingTable, (t) => t.listPeers),
  (peers) => new Set(peers.map((p) => p.id.toString()))
)
const closest = (key: Uint8Array) => Effect.flatMap(Dht, (dht) => dht.getClosestPeers(key))

describe("warm restart", () => {
  it.scoped("a node restarted without bootstrap peers reloads its routing table, rejoins and serves lookups", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const scope = yield* Effect.scope
      // eight servers that know each other
      const servers = yield* Effect.forEach(Array.from({ length: 8 }), () =>
        Effect.flatMap(newPeerId, (id) => start(hub, id, [], scope))
      )
      const infos: Array<PeerInfo> = yield* Effect.forEach(servers, (s) =>
        s.run(Effect.flatMap(Network, (n) => n.selfInfo))
      )
      for (const server of servers) {
        yield* server.run(
          Effect.flatMap(RoutingTable, (t) =>
            Effect.forEach(infos, (info) => (info.id.equals(server.id) ? Effect.void : t.tryAdd(info)))
          )
        )
      }

      const datastore = new MemoryDatastore()
      const id = yield* newPeerId
      const first = yield* Scope.make()
      const before = yield* Effect.gen(function* () {
        const node = yield* start(hub, id, [datastoreOption(datastore), bootstrapPeers([infos[0]!])], first)
        yield* node.run(Effect.flatMap(Dht, (dht) => dht.bootstrap()))
        yield* node.run(closest(id.toMultihash().bytes))
        return yield* node.run(tableIds)
      })
      expect(before.size).toBeGreaterThanOrEqual(5)
      yield* Scope.close(first, Exit.void)
      expect(yield* Effect.promise(async () => datastore.has(TablePersistence.ROUTING_TABLE_KEY))).toBe(true)

      // the same identity and datastore, no bootstrap peers and no connections
      const node = yield* start(hub, id, [datastoreOption(datastore)], scope)
      expect(yield* node.run(Effect.flatMap(Network, (n) => n.connectedPeers))).toEqual([])
      expect(yield* node.run(tableIds)).toEqual(before)
      const found = yield* node.run(closest(new TextEncoder().encode("some key")))
      expect(found.length).toBe(servers.length)

      // a newcomer that knows only the restarted node finds the others through it
      const newcomer = yield* start(hub, yield* newPeerId, [], scope)
      yield* newcomer.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id, multiaddrs: [] })))
      const viaRestarted = yield* newcomer.run(closest(new TextEncoder().encode("another key")))
      expect(viaRestarted.length).toBe(servers.length + 1)
    })
  )

  it.scoped("while it runs, the table is saved every five minutes, not only when the node stops", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const scope = yield* Effect.scope
      const datastore = new MemoryDatastore()
      const peers = yield* Effect.forEach(Array.from({ length: 3 }), () => newPeerId)
      const node = yield* start(hub, yield* newPeerId, [datastoreOption(datastore)], scope)
      const saved = Effect.promise(async () => {
        if (!(await datastore.has(TablePersistence.ROUTING_TABLE_KEY))) return []
        const text = new TextDecoder().decode(await datastore.get(TablePersistence.ROUTING_TABLE_KEY))
        return (JSON.parse(text) as { peers: Array<{ id: string }> }).peers.map((p) => p.id).sort()
      })
      yield* node.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: peers[0]!, multiaddrs: [] })))
      expect(yield* saved).toEqual([])
      yield* TestClock.adjust(TablePersistence.DEFAULT_SAVE_INTERVAL)
      expect(yield* saved).toEqual([peers[0]!.toString()])
      // the next save follows the table
      yield* node.run(
        Effect.flatMap(RoutingTable, (t) => Effect.forEach(peers.slice(1), (id) => t.tryAdd({ id, multiaddrs: [] })))
      )
      yield* TestClock.adjust("4 minutes")
      expect(yield* saved).toEqual([peers[0]!.toString()])
      yield* TestClock.adjust("1 minute")
      expect(yield* saved).toEqual(peers.map(String).sort())
    })
  )

  it.scoped("without a datastore of its own a node starts cold", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const scope = yield* Effect.scope
      const server = yield* start(hub, yield* newPeerId, [], scope)
      const info = yield* server.run(Effect.flatMap(Network, (n) => n.selfInfo))
      const id = yield* newPeerId
      const first = yield* Scope.make()
      const node = yield* start(hub, id, [bootstrapPeers([info])], first)
      yield* node.run(Effect.flatMap(Dht, (dht) => dht.bootstrap()))
      expect((yield* node.run(tableIds)).size).toBe(1)
      yield* Scope.close(first, Exit.void)
      const again = yield* start(hub, id, [], scope)
      expect((yield* again.run(tableIds)).size).toBe(0)
    })
  )
})
