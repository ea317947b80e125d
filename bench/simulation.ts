/**
 * Simulation suite: a large effect-kad network on the in-memory network
 * with a latency model (per-pair one-way delays of 10–75 ms, so round trips
 * of 20–150 ms). Measured per network: hops and RPCs per lookup against
 * log2(N), the share of getClosestPeers lookups that return the true k
 * closest (checked by sorting every node), provide latency classic vs
 * optimistic, and memory per simulated node.
 *
 * Networks are built one of two ways (`makeSimulation`'s `join`):
 * - filled tables: every routing table filled as bucket refreshes leave it
 *   in a settled network, with no messages; this is how 1k and 10k nodes are
 *   built, so the two sizes compare like for like;
 * - self-lookup: nodes join one by one with one self-lookup each, the
 *   organic way; run at 1k as a cross-check of the filled network.
 *
 * Every network runs in its own child process
 * (bench/support/simulation-worker.ts) started with `--expose-gc`, so heap
 * per node is read after a full collection. Nodes join with instant links,
 * then the latency model is switched on for the measurements. Before each
 * network after the first, the suite predicts its time and heap from the
 * runs so far and steps down to a smaller size (or skips the cross-check)
 * when it would not fit the time budget or the machine's memory, reporting
 * what it skipped and why.
 *
 * @module
 */
import os from "node:os"
import type { BarChart, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import type { SimulationReport, SimulationRequest } from "./support/simulation-worker.js"
import { loadNote, mean, mebibytes, quantile, summarize } from "./support/stats.js"
import { startWorker } from "./support/worker.js"

type Join = SimulationRequest["join"]

/** One network to build and measure, with smaller sizes to fall back on when it does not fit. */
interface PlannedRun {
  readonly size: number
  readonly join: Join
  /** Smaller sizes tried, largest first, when `size` does not fit. */
  readonly fallbacks: ReadonlyArray<number>
}

interface Plan {
  readonly runs: ReadonlyArray<PlannedRun>
  readonly lookups: number
  readonly lookupConcurrency: number
  readonly provideRounds: number
  readonly providers: number
}

const FULL: Plan = {
  runs: [
    { size: 1_000, join: "filled-tables", fallbacks: [] },
    { size: 10_000, join: "filled-tables", fallbacks: [7_500, 5_000, 3_000] },
    { size: 1_000, join: "self-lookup", fallbacks: [] }
  ],
  lookups: 60,
  lookupConcurrency: 4,
  provideRounds: 10,
  providers: 5
}

const QUICK: Plan = {
  runs: [
    { size: 300, join: "filled-tables", fallbacks: [] },
    { size: 300, join: "self-lookup", fallbacks: [] }
  ],
  lookups: 16,
  lookupConcurrency: 4,
  provideRounds: 4,
  providers: 2
}

/** Heap available to one worker by default; larger networks get a larger limit when the machine has the memory. */
const DEFAULT_HEAP_MIB = 4_096

/** Process start, module loading and the final report, on top of building and measuring. */
const OVERHEAD_MILLIS = 15_000

type Report = SimulationReport & { readonly join: Join; readonly totalMillis: number }

/** What running one network is predicted to cost. */
interface Prediction {
  readonly size: number
  readonly join: Join
  readonly millis: number
  readonly heapBytes: number
}

/**
 * A self-lookup join costs this many times a filled one of the same size
 * (N lookups against none; 5.2× on the reference machine at 1k nodes).
 */
const SELF_LOOKUP_JOIN_FACTOR = 6

/**
 * How building grows with N: faster than N, because the collector walks an
 * ever larger heap (filled tables, reference machine: 5.8 s at 1k, 141 s at
 * 10k, so about N^1.4).
 */
const BUILD_COST_EXPONENT = 1.4

/**
 * Predicts a network's cost from an earlier run: building by
 * {@link BUILD_COST_EXPONENT} (and {@link SELF_LOOKUP_JOIN_FACTOR} across
 * join methods), the measurements with log2 N (longer lookups), heap per
 * node with log2 N (more buckets filled).
 */
const predict = (from: Report, size: number, join: Join): Prediction => {
  const growth = size / from.size
  const logGrowth = Math.log2(size) / Math.log2(from.size)
  const joinFactor =
    join === from.join ? 1 : join === "self-lookup" ? SELF_LOOKUP_JOIN_FACTOR : 1 / SELF_LOOKUP_JOIN_FACTOR
  const buildMillis = from.buildMillis * growth ** BUILD_COST_EXPONENT * joinFactor
  const measureMillis = Math.max(0, from.totalMillis - from.buildMillis - OVERHEAD_MILLIS) * logGrowth
  return {
    size,
    join,
    millis: buildMillis + measureMillis + OVERHEAD_MILLIS,
    heapBytes: ((from.heapAfter - from.heapBefore) / from.size) * size * logGrowth
  }
}

/**
 * A prediction fits when it ends within the budget with a 10% margin (the
 * machine may be busier than during the run it was predicted from), and
 * its heap within 70% of the machine's memory.
 */
const fits = (prediction: Prediction, remainingMillis: number): boolean =>
  prediction.millis * 1.1 < remainingMillis && prediction.heapBytes * 1.3 < os.totalmem() * 0.7

const describeJoin = (join: Join): string => (join === "filled-tables" ? "filled tables" : "self-lookup join")

const describePrediction = (p: Prediction): string =>
  `${p.size.toLocaleString("en-US")} nodes (${describeJoin(p.join)}): predicted ≈ ${Math.round(p.millis / 1000)} s and ≈ ${(p.heapBytes / 2 ** 30).toFixed(1)} GiB of heap`

const label = (r: Report): string => `N = ${r.size.toLocaleString("en-US")}, ${describeJoin(r.join)}`

const runNetwork = async (
  context: SuiteContext,
  plan: Plan,
  size: number,
  join: Join,
  heapBytes: number
): Promise<Report> => {
  const heapMiB = Math.max(DEFAULT_HEAP_MIB, Math.ceil((heapBytes * 1.5) / 2 ** 20))
  const started = performance.now()
  const worker = await startWorker(new URL("./support/simulation-worker.ts", import.meta.url), {
    // a larger young generation makes the join's short-lived garbage much cheaper to collect
    nodeFlags: ["--expose-gc", "--max-semi-space-size=64", `--max-old-space-size=${heapMiB}`],
    log: (line) => context.log(`N = ${size}: ${line}`)
  })
  try {
    const request: SimulationRequest = {
      size,
      join,
      lookups: plan.lookups,
      lookupConcurrency: plan.lookupConcurrency,
      provideRounds: plan.provideRounds,
      providers: plan.providers,
      seed: 7_000 + size
    }
    const report = await worker.call<SimulationReport>("simulate", request)
    return { ...report, join, totalMillis: performance.now() - started }
  } finally {
    await worker.close()
  }
}

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  const load = loadNote()
  const plan = context.quick ? QUICK : FULL
  const reports: Array<Report> = []
  const skipped: Array<string> = []
  for (const planned of plan.runs) {
    let size = planned.size
    let heapBytes = 0
    // predicted from the last run of the same join method, else from the run closest in size
    const from =
      reports.findLast((r) => r.join === planned.join) ??
      reports.toSorted((a, b) => Math.abs(a.size - planned.size) - Math.abs(b.size - planned.size)).at(0)
    if (from !== undefined) {
      const predictions = [planned.size, ...planned.fallbacks].map((n) => predict(from, n, planned.join))
      const chosen = predictions.find((p) => fits(p, context.remainingMillis()))
      for (const p of predictions) {
        if (p === chosen) break
        skipped.push(`${describePrediction(p)}, budget left ${Math.round(context.remainingMillis() / 1000)} s`)
      }
      if (chosen === undefined) {
        context.log(`nothing of ${describeJoin(planned.join)} at ${planned.size} nodes or fewer fits what is left`)
        continue
      }
      size = chosen.size
      heapBytes = chosen.heapBytes
    }
    context.log(`simulating ${size} nodes, ${describeJoin(planned.join)}`)
    reports.push(await runNetwork(context, plan, size, planned.join, heapBytes))
  }
  for (const line of skipped) context.log(`not run: ${line}`)

  const tables: Array<ResultTable> = [
    {
      title: "Lookups (getClosestPeers) on a simulated network with 20–150 ms round trips",
      columns: [
        "N",
        "join",
        "log2 N",
        "hops: mean",
        "hops: p95",
        "RPCs: mean",
        "RPCs: p95",
        "latency ms: median",
        "latency ms: p95",
        "true k closest found",
        "of the k, found on average"
      ],
      rows: reports.map((r) => {
        const hops = r.lookups.map((l) => l.hops)
        const rpcs = r.lookups.map((l) => l.queried)
        const millis = summarize(r.lookups.map((l) => l.millis))
        const exact = r.lookups.filter((l) => l.correct === r.k).length
        return [
          r.size,
          describeJoin(r.join),
          Math.log2(r.size),
          mean(hops),
          quantile(hops, 0.95),
          mean(rpcs),
          quantile(rpcs, 0.95),
          millis?.median ?? Number.NaN,
          millis?.p95 ?? Number.NaN,
          `${((exact / r.lookups.length) * 100).toFixed(0)}% (${exact}/${r.lookups.length})`,
          mean(r.lookups.map((l) => l.correct))
        ]
      }),
      notes: [
        "hops: the longest referral chain from a seed to a peer that answered (the lookup's own count); RPCs: FIND_NODE requests sent, follow-up included",
        `random 32-byte keys from random origins, ${plan.lookupConcurrency} lookups at a time; k = 20, alpha = 10, beta = 3 (simulationDefaults)`,
        "true k closest: the 20 nodes nearest the key by XOR distance among all nodes but the origin, found by sorting; a lookup succeeds when it returns exactly them",
        "link delay: a hash of the two peers, 10–75 ms one way, the same both ways; switched on after the network was built",
        "filled tables: every routing table filled as bucket refreshes leave it in a settled network (per bucket, up to k servers picked at random among those whose IDs fall in it, each a copy decoded from its wire form), no messages; self-lookup join: nodes join one by one, each told of 3 random members, then looking itself up, with instant links",
        ...skipped.map((line) => `not run: ${line}`),
        load
      ]
    },
    {
      title: "provide: classic vs optimistic (ContentRouting.provide, same network)",
      columns: [
        "N",
        "join",
        "classic ms: median",
        "classic ms: p95",
        "optimistic ms: median",
        "optimistic ms: p95",
        "optimistic / classic",
        "delivered: classic",
        "delivered: optimistic",
        "true k holding: classic",
        "true k holding: optimistic"
      ],
      rows: reports.map((r) => {
        const of = (optimistic: boolean) => r.provides.filter((p) => p.optimistic === optimistic)
        const ms = (optimistic: boolean) => summarize(of(optimistic).map((p) => p.millis))
        const avg = (optimistic: boolean, pick: (p: SimulationReport["provides"][number]) => number) =>
          of(optimistic).length > 0 ? mean(of(optimistic).map(pick)) : Number.NaN
        const classic = ms(false)
        const optimistic = ms(true)
        return [
          r.size,
          describeJoin(r.join),
          classic?.median ?? Number.NaN,
          classic?.p95 ?? Number.NaN,
          optimistic?.median ?? Number.NaN,
          optimistic?.p95 ?? Number.NaN,
          formatRatio((optimistic?.median ?? Number.NaN) / (classic?.median ?? Number.NaN)),
          avg(false, (p) => p.delivered),
          avg(true, (p) => p.delivered),
          avg(false, (p) => p.holders),
          avg(true, (p) => p.holders)
        ]
      }),
      notes: [
        `${plan.provideRounds} rounds of one classic and one optimistic provide of fresh CIDs from ${plan.providers} nodes (order alternated), one provide at a time`,
        "latency: until provide returned; delivered: peers the record had reached by then (optimistic provide leaves the rest to the background)",
        "true k holding: of the 20 nodes nearest the key, how many stored the record 1.5 s after the last provide",
        `each providing node first ran 6 lookups for its network size estimate; estimates: ${reports
          .map((r) => `${label(r)}: ${r.estimates.map((e) => Math.round(e)).join(", ")}`)
          .join("; ")}`
      ]
    },
    {
      title: "Building the network, and memory per simulated node",
      columns: [
        "N",
        "join",
        "join s",
        "join requests per node",
        "heap KiB per node",
        "RSS KiB per node",
        "heap MiB total",
        "heap limit MiB"
      ],
      rows: reports.map((r) => [
        r.size,
        describeJoin(r.join),
        r.buildMillis / 1000,
        r.joinRequests / r.size,
        (r.heapAfter - r.heapBefore) / r.size / 1024,
        (r.rssAfter - r.rssBefore) / r.size / 1024,
        mebibytes(r.heapAfter - r.heapBefore),
        mebibytes(r.heapLimit)
      ]),
      notes: [
        "join: generating the key pairs, building every node's layers (peer routing, content routing, provider store), then filling the tables, or one self-lookup per node in turn with instant links",
        reports.every((r) => r.gcForced)
          ? "heap and RSS per node: (after joining − before building) / N, each read after a forced full GC (--expose-gc)"
          : "heap and RSS per node: (after joining − before building) / N, without a forced GC (gc() was not available)",
        "every node is a full effect-kad node: routing table, lookup, size estimator, FIND_NODE/PING and provider handlers, in-memory provider store"
      ]
    }
  ]
  const charts: Array<BarChart> = [
    {
      title: "Hops and RPCs per lookup against log2 N",
      unit: "count",
      groups: reports.map((r) => ({
        label: label(r),
        bars: [
          { series: "log2 N", value: Math.log2(r.size) },
          { series: "hops (mean)", value: mean(r.lookups.map((l) => l.hops)) },
          { series: "RPCs (mean)", value: mean(r.lookups.map((l) => l.queried)) }
        ]
      }))
    },
    {
      title: "provide latency, median (20–150 ms round trips)",
      unit: "ms",
      groups: reports.map((r) => ({
        label: label(r),
        bars: [false, true].map((optimistic) => ({
          series: optimistic ? "optimistic" : "classic",
          value: summarize(r.provides.filter((p) => p.optimistic === optimistic).map((p) => p.millis))?.median ?? 0
        }))
      }))
    }
  ]
  return { tables, charts, raw: { plan, reports, skipped } }
}

/** The simulation suite, registered in `bench/run.ts`. */
export const simulationSuite: Suite = {
  name: "simulation",
  description:
    "1k/10k simulated nodes with 20-150 ms RTT: hops, RPCs, lookup success, provide classic vs optimistic, memory; 1k joined by self-lookups as a cross-check",
  run
}
