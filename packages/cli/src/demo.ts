/**
 * The local network demo: N real libp2p nodes on 127.0.0.1 in this
 * process, each a server-mode `IpfsDHT`, exercised with every operation of
 * the developer guide from nodes other than the ones that published, and
 * summed up in a table.
 *
 * Nodes run with automatic refresh off (each joins with an explicit
 * `bootstrap()`), so the requests counted for an operation are the ones
 * that operation sent and not a background refresh.
 *
 * @module
 */

import { compareDistance, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import { bucketSize, disableAutoRefresh, filterLocalhostInResponses, type PeerInfo, resiliency } from "@effect-kad/dht"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { type CliError, OperationError } from "./errors.js"
import { dialableAddresses, makeHost } from "./host.js"
import { call, type KadNode, makeKadNode } from "./kad-node.js"
import { ProgressBar, type ProgressSink } from "./progress.js"
import { summarize } from "./stats.js"
import { type Column, renderTable } from "./table.js"
import { encodeCliValue } from "./values.js"

/** Settings of {@link runDemo}. */
export interface DemoSettings {
  /** Nodes in the network, at least 3. */
  readonly nodes: number
  /** Times each operation runs, at least 1. */
  readonly runs: number
  /** Deadline of one operation. */
  readonly operationTimeout: Duration.DurationInput
  /** Where the progress bars are drawn; none when omitted. */
  readonly progress?: ProgressSink
}

/** The outcome of one run of one operation. */
export interface Sample {
  readonly ok: boolean
  readonly millis: number
  /** DHT requests the calling node sent during the run. */
  readonly requests: number
  /** A number the operation reports (peers found, estimate), for the detail column. */
  readonly metric?: number
  readonly error?: string
}

/** One row of the results table. */
export interface OperationReport {
  readonly operation: string
  readonly ok: number
  readonly total: number
  /** Median latency of the successful runs, in milliseconds; null when none succeeded. */
  readonly medianMs: number | null
  /** 95th-percentile latency of the successful runs, in milliseconds. */
  readonly p95Ms: number | null
  /** Mean DHT requests the calling node sent per run. */
  readonly requestsPerRun: number
  readonly detail: string
  /** Distinct failure messages, at most three. */
  readonly errors: ReadonlyArray<string>
}

/** Everything the demo measured. */
export interface DemoReport {
  readonly nodes: number
  readonly runs: number
  /** k, the nodes' bucket size. */
  readonly bucketSize: number
  readonly startupMs: number
  readonly elapsedMs: number
  readonly operations: ReadonlyArray<OperationReport>
  readonly allSucceeded: boolean
}

/** What an operation found: whether it is right, and a number to report. */
interface Outcome {
  readonly ok: boolean
  readonly metric?: number
  readonly failure?: string
}

/** One operation of the demo: how to run it, and how to sum up its metrics. */
interface Operation {
  readonly name: string
  readonly run: (ctx: RunContext, signal: AbortSignal) => Promise<Outcome>
  /** The node whose requests are counted: the caller. */
  readonly caller: (ctx: RunContext) => KadNode
  readonly detail: (samples: ReadonlyArray<Sample>, ctx: { readonly nodes: number; readonly k: number }) => string
}

/** The nodes and data of one run, shared by the operations that depend on each other. */
interface RunContext {
  readonly run: number
  readonly nodes: ReadonlyArray<KadNode>
  readonly publisher: KadNode
  readonly querier: KadNode
  readonly searcher: KadNode
  readonly cid: CID
  readonly key: string
  readonly value: Uint8Array
  readonly namespace: string
  readonly lookupKey: Uint8Array
  readonly k: number
}

/**
 * k of the demo's nodes: the Amino 20, or fewer in a small network so a
 * lookup can still find k peers besides the caller (the size estimator
 * only learns from lookups that return exactly k).
 */
export const demoBucketSize = (nodes: number): number => Math.max(1, Math.min(20, nodes - 2))
const encoder = new TextEncoder()

const sameBytes = (a: Uint8Array | null | undefined, b: Uint8Array): boolean =>
  a != null && a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])

const mean = (values: ReadonlyArray<number>): number =>
  values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length

const metrics = (samples: ReadonlyArray<Sample>): Array<number> =>
  samples.flatMap((s) => (s.ok && s.metric !== undefined ? [s.metric] : []))

const collect = async <A>(iterable: AsyncIterable<A>, limit = Number.POSITIVE_INFINITY): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const item of iterable) {
    out.push(item)
    if (out.length >= limit) break
  }
  return out
}

const includesPeer = (peers: ReadonlyArray<PeerInfo>, node: KadNode): boolean =>
  peers.some((peer) => peer.id.equals(node.host.peerId))

/** The `count` peers of `nodes` closest to `key` by XOR distance, as peer ID strings. */
const trueClosest = (nodes: ReadonlyArray<KadNode>, key: Uint8Array, count: number): Array<string> => {
  const target = kadIdOfKey(key)
  return nodes
    .map((node) => ({ id: node.host.peerId, kad: kadIdOfPeer(node.host.peerId) }))
    .sort((a, b) => compareDistance(a.kad, b.kad, target))
    .slice(0, count)
    .map((entry) => entry.id.toString())
}

/** The operations of the developer guide, in the order the table lists them. */
const operations: ReadonlyArray<Operation> = [
  {
    name: "findPeer",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const found = await ctx.querier.dht.findPeer(ctx.publisher.host.peerId, { signal })
      return found !== null && found.multiaddrs.length > 0
        ? { ok: true, metric: found.multiaddrs.length }
        : { ok: false, failure: "peer not found" }
    },
    detail: (samples) => {
      const known = samples.filter((s) => s.ok && s.requests === 0).length
      return known === 0 ? "addresses of another node" : `${known} answered from the peer store, no lookup needed`
    }
  },
  {
    name: "getClosestPeers",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const peers = await ctx.querier.dht.getClosestPeers(ctx.lookupKey, { signal })
      const others = ctx.nodes.filter((node) => node !== ctx.querier)
      const expected = trueClosest(others, ctx.lookupKey, Math.min(ctx.k, others.length))
      const returned = new Set(peers.map((peer) => peer.id.toString()))
      const overlap = expected.filter((id) => returned.has(id)).length / expected.length
      return returned.has(expected[0])
        ? { ok: true, metric: overlap }
        : { ok: false, failure: "the closest node was not among the results" }
    },
    detail: (samples, ctx) => `${Math.round(mean(metrics(samples)) * 100)}% of the true ${ctx.k} closest found`
  },
  {
    name: "provide",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      await ctx.publisher.dht.provide(ctx.cid, true, { signal })
      return { ok: true }
    },
    detail: () => "announce a CID"
  },
  {
    name: "findProvidersAsync",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const providers = await collect(ctx.querier.dht.findProvidersAsync(ctx.cid, 1, { signal }), 1)
      return includesPeer(providers, ctx.publisher)
        ? { ok: true }
        : { ok: false, failure: "the provider was not found" }
    },
    detail: () => "the provider, from another node"
  },
  {
    name: "putValue",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      await ctx.publisher.dht.putValue(ctx.key, ctx.value, { signal })
      return { ok: true }
    },
    detail: () => "a /cli/ record"
  },
  {
    name: "getValue",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const value = await ctx.querier.dht.getValue(ctx.key, { signal })
      return sameBytes(value, ctx.value) ? { ok: true } : { ok: false, failure: "wrong or missing value" }
    },
    detail: () => "the same record, from another node"
  },
  {
    name: "searchValue",
    caller: (ctx) => ctx.searcher,
    run: async (ctx, signal) => {
      const values = await collect(ctx.searcher.dht.searchValue(ctx.key, { signal }))
      return sameBytes(values.at(-1), ctx.value)
        ? { ok: true, metric: values.length }
        : { ok: false, failure: "the search did not end with the stored value" }
    },
    detail: (samples) => `${mean(metrics(samples)).toFixed(1)} values streamed, best last`
  },
  {
    name: "advertise",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      const ttl = await ctx.publisher.dht.advertise(ctx.namespace, { signal })
      return ttl > 0 ? { ok: true, metric: ttl } : { ok: false, failure: `TTL ${ttl} ms` }
    },
    detail: (samples) => `TTL ${Duration.format(Duration.millis(mean(metrics(samples)) || 0))}`
  },
  {
    name: "findPeers",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const peers = await collect(ctx.querier.dht.findPeers(ctx.namespace, { signal }))
      return includesPeer(peers, ctx.publisher)
        ? { ok: true, metric: peers.length }
        : { ok: false, failure: "the advertiser was not found" }
    },
    detail: () => "the advertiser, from another node"
  },
  {
    name: "routingTable.size",
    caller: (ctx) => ctx.querier,
    run: async (ctx) => {
      const size = await ctx.querier.dht.routingTable.size()
      return size > 0 ? { ok: true, metric: size } : { ok: false, failure: "empty routing table" }
    },
    detail: (samples, ctx) => `${mean(metrics(samples)).toFixed(1)} peers (of ${ctx.nodes - 1} others)`
  },
  {
    name: "nsEstimator.estimate",
    caller: (ctx) => ctx.querier,
    run: async (ctx) => {
      const estimate = await ctx.querier.dht.nsEstimator.estimate()
      return Number.isFinite(estimate) && estimate > 0
        ? { ok: true, metric: estimate }
        : { ok: false, failure: `estimate ${estimate}` }
    },
    detail: (samples, ctx) => `≈ ${Math.round(mean(metrics(samples)))} nodes (actual ${ctx.nodes})`
  },
  {
    name: "health check",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      // the developer guide's DHTHealthChecker: a non-empty table, a self-lookup and a put/get round trip
      const dht = ctx.querier.dht
      const size = await dht.routingTable.size()
      const self = await dht.findPeer(ctx.querier.host.peerId, { signal })
      const key = `/cli/health-check-${ctx.run}-${Date.now()}`
      const value = encodeCliValue("test-value", Date.now())
      await dht.putValue(key, value, { signal })
      const stored = sameBytes(await dht.getValue(key, { signal }), value)
      const failures = [
        size > 0 ? [] : ["empty routing table"],
        self !== null ? [] : ["cannot find self"],
        stored ? [] : ["cannot store values"]
      ].flat()
      return failures.length === 0 ? { ok: true } : { ok: false, failure: failures.join(", ") }
    },
    detail: () => "table, self-lookup, put/get"
  }
]

/** Bootstrap peers of node `index`: the first node and up to two other earlier ones. */
const bootstrapFor = (index: number, started: ReadonlyArray<KadNode>): Array<string> => {
  if (index === 0) return []
  const picks = new Set([0, Math.floor(index / 2), index - 1])
  return [...picks].flatMap((i) => dialableAddresses(started[i].host))
}

/**
 * Starts `count` nodes one after the other, each joining through earlier
 * ones. The nodes are stopped together, in parallel, when the scope
 * closes, whether the demo succeeded or not.
 */
export const startNetwork = (
  count: number,
  onStarted: () => void = () => undefined
): Effect.Effect<ReadonlyArray<KadNode>, CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const scopes: Array<Scope.CloseableScope> = []
    yield* Effect.addFinalizer(() =>
      Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency: "unbounded", discard: true })
    )
    const nodes: Array<KadNode> = []
    const k = demoBucketSize(count)
    for (let index = 0; index < count; index++) {
      const scope = yield* Scope.make()
      scopes.push(scope)
      const node = yield* Effect.gen(function* () {
        const host = yield* makeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] })
        const bootstrap = bootstrapFor(index, nodes)
        const node = yield* makeKadNode({
          host,
          mode: "server",
          bootstrap,
          options: [filterLocalhostInResponses(false), disableAutoRefresh(), bucketSize(k), resiliency(Math.min(3, k))],
          logLevel: LogLevel.Warning
        })
        // joining only connects; refreshNetwork does the lookups once every node is up
        if (bootstrap.length > 0) {
          yield* call("bootstrap", (signal) => node.dht.bootstrap({ signal, quickConnectOnly: true }))
        }
        return node
      }).pipe(Scope.extend(scope))
      nodes.push(node)
      onStarted()
    }
    return nodes
  })

/** Random-key lookups a node makes at most to give its size estimator enough measurements. */
const MAX_WARM_UP_LOOKUPS = 8

/**
 * Looks up random keys until the node's size estimator has an answer, as
 * the lookups of a node that has been running a while would. A refresh of
 * a small network makes only a few lookups, sometimes fewer than the
 * estimator needs.
 */
const warmUpEstimator = (node: KadNode): Effect.Effect<void, CliError> =>
  Effect.gen(function* () {
    for (let i = 0; i < MAX_WARM_UP_LOOKUPS; i++) {
      const ready = yield* call("nsEstimator.estimate", () => node.dht.nsEstimator.estimate()).pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false)
      )
      if (ready) return
      const key = crypto.getRandomValues(new Uint8Array(32))
      yield* call("getClosestPeers", (signal) => node.dht.getClosestPeers(key, { signal }))
    }
  })

/**
 * Refreshes every node's routing table once the whole network is up, as
 * the periodic refresh would: early nodes learn of later ones, and each
 * node's size estimator gets its first measurements.
 */
export const refreshNetwork = (
  nodes: ReadonlyArray<KadNode>,
  onRefreshed: () => void = () => undefined
): Effect.Effect<void, CliError> =>
  Effect.forEach(
    nodes,
    (node) =>
      call("bootstrap", (signal) => node.dht.bootstrap({ signal })).pipe(
        Effect.zipRight(warmUpEstimator(node)),
        Effect.zipRight(Effect.sync(onRefreshed))
      ),
    { concurrency: 4, discard: true }
  )

/** Runs one operation once and measures it. */
const measure = (op: Operation, ctx: RunContext, timeout: Duration.DurationInput): Effect.Effect<Sample> => {
  const caller = op.caller(ctx)
  return Effect.gen(function* () {
    const before = caller.requests.sent
    const started = performance.now()
    const outcome = yield* call(op.name, (signal) => op.run(ctx, signal)).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new OperationError({ operation: op.name, reason: `timed out after ${Duration.format(timeout)}` })
      }),
      Effect.either
    )
    const millis = performance.now() - started
    const requests = caller.requests.sent - before
    if (outcome._tag === "Left") return { ok: false, millis, requests, error: outcome.left.message }
    const { ok, metric, failure } = outcome.right
    return { ok, millis, requests, metric, error: failure }
  })
}

const contextFor = async (run: number, nodes: ReadonlyArray<KadNode>): Promise<RunContext> => {
  const k = demoBucketSize(nodes.length)
  // publishers rotate through the network; the callers are other nodes, spread around it
  const publisherIndex = (run * 5) % nodes.length
  const others = nodes.filter((_, i) => i !== publisherIndex)
  const tag = `${Date.now().toString(36)}-${run}`
  const cid = CID.createV1(raw.code, await sha256.digest(encoder.encode(`kad-dht demo content ${tag}`)))
  return {
    run,
    nodes,
    publisher: nodes[publisherIndex],
    querier: others[(run * 3 + Math.floor(others.length / 2)) % others.length],
    searcher: others[(run * 3 + Math.floor(others.length / 2) + 1) % others.length],
    cid,
    key: `/cli/demo-${tag}`,
    value: encodeCliValue(`demo value ${tag}`, Date.now()),
    namespace: `kad-dht-demo-${tag}`,
    lookupKey: crypto.getRandomValues(new Uint8Array(32)),
    k
  }
}

const summarizeOperation = (op: Operation, samples: ReadonlyArray<Sample>, nodes: number): OperationReport => {
  const succeeded = samples.filter((s) => s.ok)
  const latency = summarize(succeeded.map((s) => s.millis))
  const round = (ms: number) => (Number.isNaN(ms) ? null : Math.round(ms * 10) / 10)
  return {
    operation: op.name,
    ok: succeeded.length,
    total: samples.length,
    medianMs: round(latency.median),
    p95Ms: round(latency.p95),
    requestsPerRun: Math.round(mean(samples.map((s) => s.requests)) * 10) / 10,
    detail: succeeded.length > 0 ? op.detail(samples, { nodes, k: demoBucketSize(nodes) }) : "",
    errors: [...new Set(samples.flatMap((s) => (s.error === undefined ? [] : [s.error])))].slice(0, 3)
  }
}

/**
 * Starts the network, runs every operation `runs` times, and stops the
 * network. Fails only when the network cannot be started; failed
 * operations are counted in the report.
 *
 * @example
 * ```ts
 * const report = yield* runDemo({ nodes: 25, runs: 5, operationTimeout: "15 seconds" })
 * console.log(renderReport(report))
 * ```
 */
export const runDemo = (settings: DemoSettings): Effect.Effect<DemoReport, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const begin = performance.now()
      const startBar = settings.progress
        ? new ProgressBar({ total: settings.nodes, label: "nodes started", sink: settings.progress })
        : undefined
      const nodes = yield* startNetwork(settings.nodes, () => startBar?.tick()).pipe(
        Effect.ensuring(Effect.sync(() => startBar?.finish()))
      )
      const refreshBar = settings.progress
        ? new ProgressBar({ total: settings.nodes, label: "routing tables refreshed", sink: settings.progress })
        : undefined
      yield* refreshNetwork(nodes, () => refreshBar?.tick()).pipe(
        Effect.ensuring(Effect.sync(() => refreshBar?.finish()))
      )
      const startupMs = performance.now() - begin

      const opsBar = settings.progress
        ? new ProgressBar({
            total: settings.runs * operations.length,
            label: "operations run",
            sink: settings.progress
          })
        : undefined
      const samples = operations.map((): Array<Sample> => [])
      for (let run = 0; run < settings.runs; run++) {
        const ctx = yield* Effect.promise(() => contextFor(run, nodes))
        for (const [i, op] of operations.entries()) {
          samples[i].push(yield* measure(op, ctx, settings.operationTimeout))
          opsBar?.tick()
        }
      }
      opsBar?.finish()
      const reports = operations.map((op, i) => summarizeOperation(op, samples[i], settings.nodes))
      return {
        nodes: settings.nodes,
        runs: settings.runs,
        bucketSize: demoBucketSize(settings.nodes),
        startupMs: Math.round(startupMs),
        elapsedMs: Math.round(performance.now() - begin),
        operations: reports,
        allSucceeded: reports.every((r) => r.ok === r.total)
      } satisfies DemoReport
    })
  )

const columns: ReadonlyArray<Column> = [
  { header: "operation" },
  { header: "ok", align: "right" },
  { header: "median ms", align: "right" },
  { header: "p95 ms", align: "right" },
  { header: "requests/run", align: "right" },
  { header: "detail" }
]

const ms = (value: number | null): string => (value === null ? "-" : value.toFixed(1))

/** The report as text: a summary line, the results table and a legend. */
export const renderReport = (report: DemoReport): string => {
  const rows = report.operations.map((op) => [
    op.operation,
    `${op.ok}/${op.total}`,
    ms(op.medianMs),
    ms(op.p95Ms),
    op.requestsPerRun.toFixed(1),
    op.ok === op.total ? op.detail : `${op.detail}${op.detail ? "; " : ""}failed: ${op.errors.join("; ")}`
  ])
  const failed = report.operations.filter((op) => op.ok < op.total)
  return [
    `${report.nodes} nodes on 127.0.0.1 started and refreshed in ${(report.startupMs / 1000).toFixed(1)} s; ` +
      `k = ${report.bucketSize}; each operation run ${report.runs} times from nodes other than the publisher.`,
    "",
    renderTable(columns, rows),
    "",
    "latency: successful runs only. requests/run: DHT requests (and ADD_PROVIDER messages) the calling node sent.",
    failed.length === 0
      ? `All operations succeeded (${(report.elapsedMs / 1000).toFixed(1)} s in total).`
      : `${failed.length} of ${report.operations.length} operations had failures: ${failed.map((op) => op.operation).join(", ")}.`
  ].join("\n")
}
