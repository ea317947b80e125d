/**
 * Simulation suite: a large effect-kad network on the in-memory network
 * with a latency model (per-pair one-way delays of 10–75 ms, so round trips
 * of 20–150 ms). Measured per network size: hops and RPCs per lookup
 * against log2(N), the share of getClosestPeers lookups that return the
 * true k closest (checked by sorting every node), provide latency classic
 * vs optimistic, and memory per simulated node.
 *
 * Every size runs in its own child process (bench/support/simulation-worker.ts)
 * started with `--expose-gc`, so heap per node is read after a full
 * collection. Nodes join with instant links, then the latency model is
 * switched on for the measurements. The suite plans 1k and 10k nodes;
 * after the first size it predicts, from that size's join time and heap,
 * whether the next fits in the time budget and the machine's memory, and
 * steps down (5k, 3k, 2.5k, 2k) when it does not, reporting what it skipped and why.
 *
 * @module
 */
import os from "node:os"
import type { BarChart, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import type { SimulationReport, SimulationRequest } from "./support/simulation-worker.js"
import { loadNote, mean, mebibytes, quantile, summarize } from "./support/stats.js"
import { startWorker } from "./support/worker.js"

interface Plan {
  readonly sizes: ReadonlyArray<number>
  /** Smaller sizes tried, largest first, when a planned size does not fit. */
  readonly fallbacks: ReadonlyArray<number>
  readonly lookups: number
  readonly lookupConcurrency: number
  readonly provideRounds: number
  readonly providers: number
}

const FULL: Plan = {
  sizes: [1_000, 10_000],
  fallbacks: [5_000, 3_000, 2_500, 2_000],
  lookups: 60,
  lookupConcurrency: 4,
  provideRounds: 10,
  providers: 5
}

const QUICK: Plan = {
  sizes: [300],
  fallbacks: [],
  lookups: 16,
  lookupConcurrency: 4,
  provideRounds: 4,
  providers: 2
}

/** Heap available to one worker by default; larger networks get a larger limit when the machine has the memory. */
const DEFAULT_HEAP_MIB = 4_096

/** Process start, module loading and the final report, on top of building and measuring. */
const OVERHEAD_MILLIS = 15_000

/** What running one size is predicted to cost, from a smaller size's report. */
interface Prediction {
  readonly size: number
  readonly millis: number
  readonly heapBytes: number
}

/**
 * How a node's join time grows with N. Joining is one self-lookup per node
 * (hops grow with log2 N), but what dominates is the garbage collector
 * walking an ever larger heap: on the reference machine a node joined in
 * 35 ms at 1k nodes and 64 ms at 3k, about N^0.55; the prediction uses
 * N^0.6 to stay on the safe side.
 */
const JOIN_COST_EXPONENT = 0.6

/**
 * Predicts a size's cost from a smaller size's report: join time per node
 * scaled by (N / N₀)^{@link JOIN_COST_EXPONENT}, measuring time by the
 * growth of log2 N (longer lookups), heap linear in N.
 */
const predict = (from: SimulationReport & { totalMillis: number }, size: number): Prediction => {
  const growth = size / from.size
  const buildMillis = (from.buildMillis / from.size) * size * growth ** JOIN_COST_EXPONENT
  const measureMillis = (from.totalMillis - from.buildMillis) * (Math.log2(size) / Math.log2(from.size))
  return {
    size,
    millis: buildMillis + measureMillis + OVERHEAD_MILLIS,
    heapBytes: ((from.heapAfter - from.heapBefore) / from.size) * size
  }
}

/**
 * A prediction fits when it ends within the budget with a 10% margin (the
 * machine may be busier than during the size it was predicted from), and
 * its heap within 70% of the machine's memory.
 */
const fits = (prediction: Prediction, remainingMillis: number): boolean =>
  prediction.millis * 1.1 < remainingMillis && prediction.heapBytes * 1.3 < os.totalmem() * 0.7

const describePrediction = (p: Prediction): string =>
  `${p.size.toLocaleString("en-US")} nodes: predicted ≈ ${Math.round(p.millis / 1000)} s and ≈ ${(p.heapBytes / 2 ** 30).toFixed(1)} GiB of heap`

const runSize = async (
  context: SuiteContext,
  plan: Plan,
  size: number,
  heapBytes: number
): Promise<SimulationReport & { totalMillis: number }> => {
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
      lookups: plan.lookups,
      lookupConcurrency: plan.lookupConcurrency,
      provideRounds: plan.provideRounds,
      providers: plan.providers,
      seed: 7_000 + size
    }
    const report = await worker.call<SimulationReport>("simulate", request)
    return { ...report, totalMillis: performance.now() - started }
  } finally {
    await worker.close()
  }
}

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  const load = loadNote()
  const plan = context.quick ? QUICK : FULL
  const reports: Array<SimulationReport & { totalMillis: number }> = []
  const skipped: Array<string> = []
  for (const planned of plan.sizes) {
    let size = planned
    let heapBytes = 0
    const previous = reports.at(-1)
    if (previous !== undefined) {
      const candidates = [planned, ...plan.fallbacks].filter((n) => n > previous.size)
      const predictions = candidates.map((n) => predict(previous, n))
      const chosen = predictions.find((p) => fits(p, context.remainingMillis()))
      for (const p of predictions) {
        if (p === chosen) break
        skipped.push(`${describePrediction(p)}, budget left ${Math.round(context.remainingMillis() / 1000)} s`)
      }
      if (chosen === undefined) {
        context.log(`no size above ${previous.size} fits what is left of the budget`)
        continue
      }
      size = chosen.size
      heapBytes = chosen.heapBytes
    }
    context.log(`simulating ${size} nodes`)
    reports.push(await runSize(context, plan, size, heapBytes))
  }
  for (const line of skipped) context.log(`not run: ${line}`)

  const tables: Array<ResultTable> = [
    {
      title: "Lookups (getClosestPeers) on a simulated network with 20–150 ms round trips",
      columns: [
        "N",
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
        "link delay: a hash of the two peers, 10–75 ms one way, the same both ways; nodes joined with instant links (one self-lookup each), then the delays were switched on",
        ...skipped.map((line) => `not run: ${line}`),
        load
      ]
    },
    {
      title: "provide: classic vs optimistic (ContentRouting.provide, same network)",
      columns: [
        "N",
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
          .map((r) => `N = ${r.size}: ${r.estimates.map((e) => Math.round(e)).join(", ")}`)
          .join("; ")}`
      ]
    },
    {
      title: "Building the network, and memory per simulated node",
      columns: [
        "N",
        "join s",
        "join requests per node",
        "heap KiB per node",
        "RSS KiB per node",
        "heap MiB total",
        "heap limit MiB"
      ],
      rows: reports.map((r) => [
        r.size,
        r.buildMillis / 1000,
        r.joinRequests / r.size,
        (r.heapAfter - r.heapBefore) / r.size / 1024,
        (r.rssAfter - r.rssBefore) / r.size / 1024,
        mebibytes(r.heapAfter - r.heapBefore),
        mebibytes(r.heapLimit)
      ]),
      notes: [
        "join: generating the key pairs, building every node's layers (peer routing, content routing, provider store) and one self-lookup per node, in turn, with instant links",
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
        label: `N = ${r.size.toLocaleString("en-US")}`,
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
        label: `N = ${r.size.toLocaleString("en-US")}`,
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
    "1k/10k simulated nodes with 20-150 ms RTT: hops, RPCs, lookup success, provide classic vs optimistic, memory",
  run
}
