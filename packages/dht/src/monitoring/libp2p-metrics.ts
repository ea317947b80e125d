/**
 * The DHT's metrics through the host's libp2p `Metrics` (for example
 * `@libp2p/prometheus-metrics`), under the family names operators of
 * `@libp2p/kad-dht` know. Every family is a calculated one: the host asks
 * for values when it is scraped, and one snapshot answers all families of
 * that scrape.
 *
 * @module
 */
import type { Metrics } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import { type CallCounts, DhtMetrics, type DhtMetricsSnapshot } from "./metrics.js"

/** The default family prefix, as `@libp2p/kad-dht`'s. */
export const DEFAULT_METRICS_PREFIX = "libp2p_kad_dht"

/** How long one snapshot answers the families of a scrape. */
const SNAPSHOT_REUSE_MILLIS = 1_000

const pick = (counts: Readonly<Record<string, CallCounts>>, field: keyof CallCounts): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).map(([name, c]) => [name, c[field]]))

const bucketFill = (snapshot: DhtMetricsSnapshot): Record<string, number> =>
  Object.fromEntries(snapshot.routingTable.buckets.map((size, cpl) => [String(cpl), size]))

/**
 * Registers the DHT's metric families on `metrics`, read from `snapshot`.
 * Families: `<prefix>_operations_total`, `_operation_errors_total`,
 * `_operation_time_seconds_total` (label `operation`);
 * `_inbound_rpc_requests_total`, `_inbound_rpc_errors_total`,
 * `_inbound_rpc_time_seconds_total`, `_outbound_rpc_requests_total`,
 * `_outbound_rpc_errors_total`, `_outbound_rpc_time_seconds_total` (label
 * `type`); `_routing_table_size`, `_routing_table_kad_bucket_total`,
 * `_routing_table_kad_bucket_occupancy` (label `bucket`);
 * `_provider_store_keys`, `_provider_store_providers`,
 * `_record_store_records`; `_queue_depth` (label `queue`);
 * `_network_size_estimate`; `_reprovide_keys`, `_reprovide_cycle_done_keys`,
 * `_reprovide_cycles_total`, `_reprovide_overrun_cycles_total`,
 * `_reprovide_lookups_total`, `_reprovide_messages_total`.
 *
 * @example
 * ```ts
 * registerLibp2pMetrics(node.metrics!, "libp2p_kad_dht", () => dht.metrics())
 * ```
 */
export const registerLibp2pMetrics = (
  metrics: Metrics,
  prefix: string,
  snapshot: () => Promise<DhtMetricsSnapshot>
): void => {
  let last: { readonly at: number; readonly value: Promise<DhtMetricsSnapshot> } | undefined
  const current = (): Promise<DhtMetricsSnapshot> => {
    const now = Date.now()
    if (last === undefined || now - last.at > SNAPSHOT_REUSE_MILLIS) last = { at: now, value: snapshot() }
    return last.value
  }
  const read =
    <T>(f: (s: DhtMetricsSnapshot) => T) =>
    async (): Promise<T> =>
      f(await current())
  const name = (family: string) => `${prefix}_${family}`

  const counterGroup = (family: string, label: string, f: (s: DhtMetricsSnapshot) => Record<string, number>) =>
    metrics.registerCounterGroup(name(family), { label, calculate: read(f) })
  const gaugeGroup = (family: string, label: string, f: (s: DhtMetricsSnapshot) => Record<string, number>) =>
    metrics.registerMetricGroup(name(family), { label, calculate: read(f) })
  const gauge = (family: string, help: string, f: (s: DhtMetricsSnapshot) => number) =>
    metrics.registerMetric(name(family), { help, calculate: read(f) })

  counterGroup("operations_total", "operation", (s) => pick(s.operations, "total"))
  counterGroup("operation_errors_total", "operation", (s) => pick(s.operations, "errors"))
  counterGroup("operation_time_seconds_total", "operation", (s) => pick(s.operations, "seconds"))
  counterGroup("inbound_rpc_requests_total", "type", (s) => pick(s.inboundRpc, "total"))
  counterGroup("inbound_rpc_errors_total", "type", (s) => pick(s.inboundRpc, "errors"))
  counterGroup("inbound_rpc_time_seconds_total", "type", (s) => pick(s.inboundRpc, "seconds"))
  counterGroup("outbound_rpc_requests_total", "type", (s) => pick(s.outboundRpc, "total"))
  counterGroup("outbound_rpc_errors_total", "type", (s) => pick(s.outboundRpc, "errors"))
  counterGroup("outbound_rpc_time_seconds_total", "type", (s) => pick(s.outboundRpc, "seconds"))
  gauge("routing_table_size", "peers in the routing table", (s) => s.routingTable.size)
  gauge("routing_table_kad_bucket_total", "non-empty routing table depth", (s) => s.routingTable.buckets.length)
  gaugeGroup("routing_table_kad_bucket_occupancy", "bucket", bucketFill)
  gauge("provider_store_keys", "keys with provider records", (s) => s.providerStore?.keys ?? 0)
  gauge("provider_store_providers", "provider records", (s) => s.providerStore?.providers ?? 0)
  gauge("record_store_records", "value records stored", (s) => s.recordStore?.records ?? 0)
  gaugeGroup("queue_depth", "queue", (s) => ({
    inbound_requests: s.queues.inboundRequests,
    outbound_requests: s.queues.outboundRequests
  }))
  gauge("network_size_estimate", "estimated peers in the network", (s) => s.networkSizeEstimate ?? 0)
  gauge("reprovide_keys", "keys this node reprovides", (s) => s.reprovide?.keysTotal ?? 0)
  gauge(
    "reprovide_cycle_done_keys",
    "keys reprovided so far in the current cycle",
    (s) => s.reprovide?.doneInCycle ?? 0
  )
  const counter = (family: string, help: string, f: (s: DhtMetricsSnapshot) => number) =>
    metrics.registerCounter(name(family), { help, calculate: read(f) })
  counter("reprovide_cycles_total", "reprovide cycles finished", (s) => s.reprovide?.cyclesCompleted ?? 0)
  counter(
    "reprovide_overrun_cycles_total",
    "reprovide cycles that could not finish within their interval",
    (s) => s.reprovide?.overrunCycles ?? 0
  )
  counter("reprovide_lookups_total", "lookups made to reprovide", (s) => s.reprovide?.lookups ?? 0)
  counter("reprovide_messages_total", "ADD_PROVIDER messages sent to reprovide", (s) => s.reprovide?.messages ?? 0)
}

/**
 * The libp2p `Metrics` of a host, if it has one: a node's `metrics`, or a
 * service's `components.metrics` (whose proxy throws for a component that
 * was not configured).
 */
export const hostMetrics = (host: object): Metrics | undefined => {
  try {
    const metrics = (host as { metrics?: Metrics }).metrics
    return metrics !== undefined && typeof metrics.registerCounterGroup === "function" ? metrics : undefined
  } catch {
    return undefined
  }
}

const EMPTY: DhtMetricsSnapshot = {
  operations: {},
  inboundRpc: {},
  outboundRpc: {},
  routingTable: { size: 0, buckets: [], bucketSize: 0 },
  providerStore: undefined,
  recordStore: undefined,
  queues: { inboundRequests: 0, outboundRequests: 0 },
  networkSizeEstimate: undefined,
  reprovide: undefined
}

/**
 * Registers the {@link DhtMetrics} of the DHT in context on the host's
 * libp2p `Metrics`, when the host has one. libp2p cannot unregister a
 * metric: once the DHT stops, scrapes see its last snapshot.
 *
 * @example
 * ```ts
 * const exported = Libp2pMetrics.layer(node, "libp2p_kad_dht").pipe(Layer.provide(Dht.layer(node)))
 * ```
 */
export const layer = (host: object, prefix: string): Layer.Layer<never, never, DhtMetrics> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const metrics = hostMetrics(host)
      if (metrics === undefined) return
      const service = yield* DhtMetrics
      const runtime = yield* Effect.runtime<never>()
      let open = true
      let last: DhtMetricsSnapshot = EMPTY
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          open = false
        })
      )
      const snapshot = async () => {
        if (open) last = await Runtime.runPromise(runtime)(service.snapshot)
        return last
      }
      yield* Effect.try(() => registerLibp2pMetrics(metrics, prefix, snapshot)).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("the DHT's metrics could not be registered on the host").pipe(
            Effect.annotateLogs({ prefix, error: String(error.error) })
          )
        )
      )
    })
  )
