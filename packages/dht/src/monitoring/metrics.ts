/**
 * The DHT's metrics: what operators of `@libp2p/kad-dht` read from it,
 * counted here once and offered two ways: as a snapshot object
 * (`IpfsDHT.metrics()`, `DhtMetrics.snapshot`) and through the host's
 * libp2p `Metrics` (see `libp2p-metrics.ts`), hence Prometheus.
 *
 * Counters are plain fields bumped on the request path; sizes (routing
 * table, stores) are read only when a snapshot is taken.
 *
 * @module
 */
import { type Message, Network, type NetworkShape, type RequestHandler } from "@effect-kad/core"
import { ContentRouting, ProviderStoreService, type ReprovideProgress } from "@effect-kad/providers"
import { NetworkSizeEstimator, RoutingTable } from "@effect-kad/routing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { RecordStore } from "../values/record-store.js"

/** Count, failures and time spent of one operation or message type. */
export interface CallCounts {
  readonly total: number
  readonly errors: number
  /** Seconds spent in calls that ended, successful or not. */
  readonly seconds: number
}

/** Everything {@link DhtMetrics} reports at one moment. */
export interface DhtMetricsSnapshot {
  /** Public operations (`getValue`, `provide`, ...) started, failed, and their time. */
  readonly operations: Readonly<Record<string, CallCounts>>
  /** Requests answered by this node, per message type. */
  readonly inboundRpc: Readonly<Record<string, CallCounts>>
  /** Requests sent by this node, per message type. */
  readonly outboundRpc: Readonly<Record<string, CallCounts>>
  readonly routingTable: {
    readonly size: number
    /** Peers per bucket, index = common prefix length with this node. */
    readonly buckets: ReadonlyArray<number>
    readonly bucketSize: number
  }
  /**
   * Provider records held, when the store counts itself (the SDK's memory
   * and datastore stores do; an application's store may not).
   */
  readonly providerStore: { readonly keys: number; readonly providers: number } | undefined
  /** Value records held in the datastore. */
  readonly recordStore: { readonly records: number } | undefined
  /** Work waiting or in progress. */
  readonly queues: { readonly inboundRequests: number; readonly outboundRequests: number }
  /** Estimated network size; undefined until enough lookups completed. */
  readonly networkSizeEstimate: number | undefined
  /** Where reproviding stands: keys, the current cycle, overrun cycles, its lookups and messages. */
  readonly reprovide: ReprovideProgress | undefined
}

/** Counters of one operation or message type as the recorder updates them. */
export interface MutableCounts {
  total: number
  errors: number
  seconds: number
}

/** The mutable counters behind the snapshots; bumped by the instrumented network and operations. */
export class MetricsRecorder {
  readonly operations = new Map<string, MutableCounts>()
  readonly inbound = new Map<string, MutableCounts>()
  readonly outbound = new Map<string, MutableCounts>()
  inboundInFlight = 0
  outboundInFlight = 0

  /** Counts one call of `name` in `table` that took `millis` and failed or not. */
  count(table: Map<string, MutableCounts>, name: string, millis: number, failed: boolean): void {
    let entry = table.get(name)
    if (entry === undefined) {
      entry = { total: 0, errors: 0, seconds: 0 }
      table.set(name, entry)
    }
    entry.total++
    if (failed) entry.errors++
    entry.seconds += millis / 1000
  }

  /** Runs `effect`, counting it in `table` under `name` once it ends. */
  timed<A, E, R>(table: Map<string, MutableCounts>, name: string, effect: Effect.Effect<A, E, R>) {
    return Effect.suspend(() => {
      const started = performance.now()
      return Effect.onExit(effect, (exit) =>
        Effect.sync(() => this.count(table, name, performance.now() - started, Exit.isFailure(exit)))
      )
    })
  }

  /** Runs `stream`, counting it as one call in `table` under `name` once it ends. */
  timedStream<A, E, R>(table: Map<string, MutableCounts>, name: string, stream: Stream.Stream<A, E, R>) {
    return Stream.suspend(() => {
      const started = performance.now()
      let failed = false
      return stream.pipe(
        Stream.tapError(() =>
          Effect.sync(() => {
            failed = true
          })
        ),
        Stream.ensuring(Effect.sync(() => this.count(table, name, performance.now() - started, failed)))
      )
    })
  }
}

const freeze = (table: Map<string, MutableCounts>): Record<string, CallCounts> =>
  Object.fromEntries([...table].map(([name, counts]) => [name, { ...counts }]))

const typeOf = (message: Message): string => message.type ?? "PUT_VALUE"

/**
 * Wraps a {@link NetworkShape} so every request sent and answered is
 * counted per message type, with failures and requests in flight.
 */
export const instrumentNetwork = (network: NetworkShape, recorder: MetricsRecorder): NetworkShape => {
  const outbound = <A, E>(message: Message, effect: Effect.Effect<A, E>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => recorder.outboundInFlight++),
      () => recorder.timed(recorder.outbound, typeOf(message), effect),
      () => Effect.sync(() => recorder.outboundInFlight--)
    )
  const served =
    (handler: RequestHandler): RequestHandler =>
    (from, request) =>
      Effect.acquireUseRelease(
        Effect.sync(() => recorder.inboundInFlight++),
        () => recorder.timed(recorder.inbound, typeOf(request), handler(from, request)),
        () => Effect.sync(() => recorder.inboundInFlight--)
      )
  return {
    ...network,
    request: (peer, message, options) => outbound(message, network.request(peer, message, options)),
    send: (peer, message, options) => outbound(message, network.send(peer, message, options)),
    serve: (handler) => network.serve(served(handler))
  }
}

/** The counters of one node, shared by its instrumented network and its {@link DhtMetrics}. */
export class DhtMetricsRecorder extends Context.Tag("@effect-kad/dht/DhtMetricsRecorder")<
  DhtMetricsRecorder,
  MetricsRecorder
>() {}

/** Operations of the {@link DhtMetrics} service. */
export interface DhtMetricsShape {
  readonly recorder: MetricsRecorder
  /** Counts a public operation (its time, and whether it failed). */
  readonly measure: <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Counts a public operation that answers with a stream, as one call lasting until the stream ends. */
  readonly measureStream: <A, E, R>(operation: string, stream: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
  /** The metrics now. */
  readonly snapshot: Effect.Effect<DhtMetricsSnapshot>
}

/**
 * The metrics of one DHT node.
 *
 * @example
 * ```ts
 * const snapshot = yield* Effect.flatMap(DhtMetrics, (m) => m.snapshot)
 * console.log(snapshot.routingTable.size, snapshot.outboundRpc.FIND_NODE?.total)
 * ```
 */
export class DhtMetrics extends Context.Tag("@effect-kad/dht/DhtMetrics")<DhtMetrics, DhtMetricsShape>() {
  /**
   * The service over a recorder, reading sizes from the routing table, the
   * estimator, and the record and provider stores when they are in context.
   */
  static readonly make = Effect.gen(function* () {
    const recorder = yield* DhtMetricsRecorder
    const table = yield* RoutingTable
    const estimator = yield* NetworkSizeEstimator
    const records = yield* Effect.serviceOption(RecordStore)
    const providers = yield* Effect.serviceOption(ProviderStoreService)
    const content = yield* Effect.serviceOption(ContentRouting)
    const snapshot: Effect.Effect<DhtMetricsSnapshot> = Effect.gen(function* () {
      const buckets = yield* table.buckets
      return {
        operations: freeze(recorder.operations),
        inboundRpc: freeze(recorder.inbound),
        outboundRpc: freeze(recorder.outbound),
        routingTable: {
          size: yield* table.size,
          buckets: buckets.map((bucket) => bucket.size),
          bucketSize: table.bucketSize
        },
        providerStore: Option.isSome(providers)
          ? yield* providers.value.stats.pipe(
              Effect.map(Option.getOrUndefined),
              Effect.orElseSucceed(() => undefined)
            )
          : undefined,
        recordStore: Option.isSome(records)
          ? yield* records.value.count.pipe(
              Effect.map((count) => ({ records: count })),
              Effect.orElseSucceed(() => undefined)
            )
          : undefined,
        queues: { inboundRequests: recorder.inboundInFlight, outboundRequests: recorder.outboundInFlight },
        networkSizeEstimate: Option.getOrUndefined(yield* Effect.option(estimator.estimate)),
        reprovide: Option.isSome(content) ? yield* content.value.reprovideProgress : undefined
      }
    })
    return {
      recorder,
      measure: (operation, effect) => recorder.timed(recorder.operations, operation, effect),
      measureStream: (operation, stream) => recorder.timedStream(recorder.operations, operation, stream),
      snapshot
    } satisfies DhtMetricsShape
  })

  /** The service as a layer. */
  static readonly layer: Layer.Layer<DhtMetrics, never, RoutingTable | NetworkSizeEstimator | DhtMetricsRecorder> =
    Layer.effect(DhtMetrics, DhtMetrics.make)

  /**
   * A network layer whose requests, sent and served, are counted by a new
   * recorder, provided beside it for {@link DhtMetrics.layer}.
   */
  static readonly layerNetwork = <E, R>(
    network: Layer.Layer<Network, E, R>
  ): Layer.Layer<Network | DhtMetricsRecorder, E, R> =>
    Layer.effectContext(
      Effect.map(Network, (inner) => {
        const recorder = new MetricsRecorder()
        return Context.make(Network, instrumentNetwork(inner, recorder)).pipe(Context.add(DhtMetricsRecorder, recorder))
      })
    ).pipe(Layer.provide(network))
}
