import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, NamespacedValidator } from "@effect-kad/core"
import { DHTConfig, type DHTOption } from "@effect-kad/options"
import { ProviderStoreService } from "@effect-kad/providers"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { Metrics } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { MemoryDatastore } from "datastore-core"
import { Effect, Either, Layer, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import {
  DatastoreProviderStore,
  DHTMode,
  Dht,
  type DhtMetricsSnapshot,
  disableAutoRefresh,
  Libp2pMetrics,
  metricsPrefix,
  mode,
  providerStore,
  validator
} from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
const text = (s: string) => new TextEncoder().encode(s)
const permissive = new NamespacedValidator({ m: { validate: () => undefined, select: () => 0 } })

const node = (hub: MemoryNetworkHub, options: ReadonlyArray<DHTOption> = []) =>
  Effect.gen(function* () {
    const id = yield* newPeerId
    const config = yield* DHTConfig.fromOptions([
      mode(DHTMode.server),
      disableAutoRefresh(),
      validator(permissive),
      ...options
    ])
    const context = yield* Layer.build(Dht.layerWith(config, hub.layer(id)))
    const run = <A, E>(effect: Effect.Effect<A, E, Dht | RoutingTable | ProviderStoreService>) =>
      Effect.provide(effect, context)
    return { id, run, context, dht: (yield* run(Dht)) as Dht["Type"] }
  })

/** A libp2p `Metrics` that records what is registered, to read the families as a scrape would. */
const recordingMetrics = () => {
  const registered = new Map<string, { label?: string; calculate: () => Promise<unknown> }>()
  const record = (name: string, options: { label?: string; calculate: () => Promise<unknown> }) =>
    void registered.set(name, options)
  const metrics = {
    registerMetric: record,
    registerMetricGroup: record,
    registerCounter: record,
    registerCounterGroup: record
  } as unknown as Metrics
  const read = (name: string) => Effect.promise(() => registered.get(name)!.calculate())
  return { metrics, registered, read }
}

describe("metrics", () => {
  it.scoped("count operations, RPCs per message type with errors, table fill, store sizes and queues", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const a = yield* node(hub)
      const b = yield* node(hub)
      yield* a.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: b.id, multiaddrs: [] })))
      yield* b.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: a.id, multiaddrs: [] })))

      yield* a.dht.putValue(text("/m/key"), text("value"))
      expect(new TextDecoder().decode(yield* b.dht.getValue(text("/m/key")))).toBe("value")
      const missing = yield* Effect.either(b.dht.getValue(text("/m/absent")))
      expect(Either.isLeft(missing)).toBe(true)
      const cid = CID.createV1(raw.code, yield* Effect.promise(async () => sha256.digest(text("content"))))
      yield* a.dht.provide(cid)
      const found = yield* b.dht.findProviders(cid).pipe(Stream.take(1), Stream.runCollect)
      expect(found.length).toBe(1)

      const ma: DhtMetricsSnapshot = yield* a.dht.metrics
      const mb: DhtMetricsSnapshot = yield* b.dht.metrics
      expect(ma.operations.putValue).toMatchObject({ total: 1, errors: 0 })
      expect(ma.operations.provide).toMatchObject({ total: 1, errors: 0 })
      expect(mb.operations.getValue).toMatchObject({ total: 2, errors: 1 })
      expect(mb.operations.findProviders).toMatchObject({ total: 1, errors: 0 })
      expect(mb.operations.getValue!.seconds).toBeGreaterThanOrEqual(0)
      // what one sent, the other served
      expect(ma.outboundRpc.PUT_VALUE?.total).toBe(1)
      expect(mb.inboundRpc.PUT_VALUE?.total).toBe(1)
      expect(ma.outboundRpc.ADD_PROVIDER?.total).toBe(1)
      expect(mb.inboundRpc.ADD_PROVIDER?.total).toBe(1)
      expect(mb.outboundRpc.GET_VALUE?.total).toBeGreaterThanOrEqual(2)
      expect(ma.inboundRpc.GET_VALUE?.total).toBe(mb.outboundRpc.GET_VALUE?.total)
      expect(ma.routingTable.size).toBe(1)
      expect(ma.routingTable.buckets.reduce((x, y) => x + y, 0)).toBe(1)
      expect(ma.routingTable.bucketSize).toBe(20)
      // a stored the record it put, b the record it was sent and the one it read back
      expect(ma.recordStore).toEqual({ records: 1 })
      expect(mb.recordStore?.records).toBeGreaterThanOrEqual(1)
      // b holds a's provider record; a keeps its own too
      expect(mb.providerStore).toEqual({ keys: 1, providers: 1 })
      // the provided key is now reprovided by a, and b provides nothing
      expect(ma.reprovide?.keysTotal).toBe(1)
      expect(mb.reprovide?.keysTotal).toBe(0)
      expect(ma.queues).toEqual({ inboundRequests: 0, outboundRequests: 0 })
      expect(mb.queues).toEqual({ inboundRequests: 0, outboundRequests: 0 })
    })
  )

  it.scoped("a failed outbound RPC is counted as an error of its message type", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const a = yield* node(hub)
      const b = yield* node(hub)
      yield* a.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: b.id, multiaddrs: [] })))
      yield* hub.kill(b.id)
      yield* a.dht.getClosestPeers(text("anything"))
      const m = yield* a.dht.metrics
      expect(m.outboundRpc.FIND_NODE).toMatchObject({ total: 1, errors: 1 })
      expect(m.operations.getClosestPeers).toMatchObject({ total: 1, errors: 0 })
    })
  )

  it.scoped("a DHT whose provider store is a datastore reports its size, which falls as records expire", () =>
    Effect.gen(function* () {
      const HOUR = 60 * 60 * 1000
      let now = 1_000_000
      const store = new DatastoreProviderStore(new MemoryDatastore(), { provideValidity: 10 * HOUR, now: () => now })
      yield* Effect.addFinalizer(() => Effect.promise(() => store.close()))
      const hub = new MemoryNetworkHub()
      const a = yield* node(hub)
      const b = yield* node(hub, [providerStore(store)])
      const { metrics, read } = recordingMetrics()
      yield* Layer.buildWithScope(Libp2pMetrics.layer({ metrics }, "libp2p_kad_dht"), yield* Effect.scope).pipe(
        Effect.provide(b.context)
      )
      yield* a.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: b.id, multiaddrs: [] })))
      expect((yield* b.dht.metrics).providerStore).toEqual({ keys: 0, providers: 0 })

      const cid = (name: string) =>
        Effect.map(
          Effect.promise(async () => sha256.digest(text(name))),
          (digest) => CID.createV1(raw.code, digest)
        )
      const storedAtB = (keys: number) =>
        // ADD_PROVIDER is unanswered: b stores the record on its own time after provide returns
        Effect.gen(function* () {
          for (let i = 0; i < 200 && (yield* b.dht.metrics).providerStore?.keys !== keys; i++) {
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
          }
        })
      yield* a.dht.provide(yield* cid("first"))
      yield* storedAtB(1)
      now += 6 * HOUR
      yield* a.dht.provide(yield* cid("second"))
      yield* storedAtB(2)
      // b holds a's records of both keys, in its datastore
      expect((yield* b.dht.metrics).providerStore).toEqual({ keys: 2, providers: 2 })
      expect(yield* read("libp2p_kad_dht_provider_store_keys")).toBe(2)
      expect(yield* read("libp2p_kad_dht_provider_store_providers")).toBe(2)

      // the first record expires; the store's cleanup (what its periodic pass runs) drops it
      now += 5 * HOUR
      expect(yield* b.run(Effect.flatMap(ProviderStoreService, (s) => s.cleanup))).toBe(1)
      expect((yield* b.dht.metrics).providerStore).toEqual({ keys: 1, providers: 1 })
    })
  )

  it.scoped("register on the host's libp2p Metrics under the configured prefix, read at scrape time", () =>
    Effect.gen(function* () {
      const { metrics, registered, read } = recordingMetrics()
      const hub = new MemoryNetworkHub()
      const a = yield* node(hub, [metricsPrefix("test_dht")])
      const b = yield* node(hub)
      yield* Layer.buildWithScope(Libp2pMetrics.layer({ metrics }, "test_dht"), yield* Effect.scope).pipe(
        Effect.provide(a.context)
      )
      expect([...registered.keys()].every((name) => name.startsWith("test_dht_"))).toBe(true)
      expect(registered.has("test_dht_operations_total")).toBe(true)
      expect(registered.get("test_dht_outbound_rpc_requests_total")?.label).toBe("type")
      expect(registered.get("test_dht_routing_table_kad_bucket_occupancy")?.label).toBe("bucket")

      yield* a.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd({ id: b.id, multiaddrs: [] })))
      yield* a.dht.getClosestPeers(text("k"))
      expect(yield* read("test_dht_routing_table_size")).toBe(1)
      expect(yield* read("test_dht_operations_total")).toEqual({ getClosestPeers: 1 })
      expect(yield* read("test_dht_outbound_rpc_requests_total")).toMatchObject({ FIND_NODE: 1 })
      expect(yield* read("test_dht_queue_depth")).toEqual({ inbound_requests: 0, outbound_requests: 0 })
      expect(yield* read("test_dht_reprovide_keys")).toBe(0)
      expect(yield* read("test_dht_reprovide_overrun_cycles_total")).toBe(0)
    })
  )
})
