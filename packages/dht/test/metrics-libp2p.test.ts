import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { describe, expect, it } from "@effect/vitest"
import { identify } from "@libp2p/identify"
import { prometheusMetrics } from "@libp2p/prometheus-metrics"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"
import { Registry } from "prom-client"
import { afterEach } from "vitest"
import {
  DHTMode,
  type DHTOption,
  disableAutoRefresh,
  filterLocalhostInResponses,
  type KadDHTService,
  kadDHT,
  Libp2pMetrics,
  metricsPrefix,
  mode
} from "../src/index.js"

const started: Array<Libp2p> = []
afterEach(async () => {
  for (const node of started.splice(0)) await node.stop()
})

const makeNode = async (options: ReadonlyArray<DHTOption>, registry?: Registry) => {
  const node = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(registry === undefined ? {} : { metrics: prometheusMetrics({ registry }) }),
    services: {
      identify: identify(),
      dht: kadDHT([mode(DHTMode.server), filterLocalhostInResponses(false), disableAutoRefresh(), ...options])
    }
  })
  started.push(node)
  return node
}

const dhtOf = (node: Libp2p) => (node.services as { dht: KadDHTService }).dht.dht

/** The values of one family as a scrape reads them, by their label (or `""` without one). */
const scrape = async (registry: Registry, name: string): Promise<Record<string, number>> => {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) return {}
  const { values } = await metric.get()
  return Object.fromEntries(values.map((v) => [String(Object.values(v.labels)[0] ?? ""), v.value]))
}

describe("metrics on a libp2p host", () => {
  it("metricsPrefix names the families the DHT registers on the host's Prometheus metrics", async () => {
    const registry = new Registry()
    const a = await makeNode([metricsPrefix("myapp_dht")], registry)
    const b = await makeNode([])

    // the registered families, without scraping: a scrape now would answer the next second's scrapes
    const names = registry.getMetricsAsArray().map((m) => m.name)
    const ours = names.filter((name) => name.startsWith("myapp_dht_"))
    for (const family of [
      "operations_total",
      "outbound_rpc_requests_total",
      "inbound_rpc_requests_total",
      "routing_table_size",
      "routing_table_kad_bucket_occupancy",
      "provider_store_keys",
      "provider_store_providers",
      "record_store_records",
      "queue_depth",
      "network_size_estimate",
      "reprovide_keys",
      "reprovide_messages_total"
    ]) {
      expect(ours).toContain(`myapp_dht_${family}`)
    }
    // none under the default prefix, and libp2p's own families beside ours
    expect(names.filter((name) => name.startsWith(`${Libp2pMetrics.DEFAULT_METRICS_PREFIX}_`))).toEqual([])
    expect(names.some((name) => name.startsWith("libp2p_") && !name.startsWith("libp2p_kad_dht"))).toBe(true)

    await b.dial(a.getMultiaddrs()[0])
    for (let i = 0; i < 50 && (await dhtOf(a).routingTable.size()) < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const closest = await dhtOf(a).getClosestPeers(new TextEncoder().encode("metrics key"))
    expect(closest.map((p) => p.id.toString())).toEqual([b.peerId.toString()])

    const snapshot = await dhtOf(a).metrics()
    expect(snapshot.operations.getClosestPeers).toMatchObject({ total: 1, errors: 0 })
    expect(snapshot.operations.getClosestPeers!.seconds).toBeGreaterThan(0)
    expect(snapshot.outboundRpc.FIND_NODE?.total).toBeGreaterThanOrEqual(1)
    expect(snapshot.outboundRpc.FIND_NODE?.errors).toBe(0)
    expect(snapshot.routingTable.size).toBe(1)
    expect(snapshot.routingTable.bucketSize).toBe(20)
    expect(snapshot.providerStore).toEqual({ keys: 0, providers: 0 })
    expect(snapshot.recordStore).toEqual({ records: 0 })
    expect(snapshot.queues).toEqual({ inboundRequests: 0, outboundRequests: 0 })
    expect(snapshot.reprovide?.keysTotal).toBe(0)

    // a scrape reads the same figures under the prefix
    expect(await scrape(registry, "myapp_dht_operations_total")).toEqual({ getClosestPeers: 1 })
    expect(await scrape(registry, "myapp_dht_routing_table_size")).toEqual({ "": 1 })
    expect((await scrape(registry, "myapp_dht_outbound_rpc_requests_total")).FIND_NODE).toBe(
      snapshot.outboundRpc.FIND_NODE?.total
    )
  })
})
