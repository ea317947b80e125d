/**
 * Provide-scale suite: what announcing and reproviding many keys costs,
 * region by region (`provideMany`, the sweeping reprovider) against one
 * lookup per key (classic provide, and @libp2p/kad-dht's reprovider).
 *
 * 1. Simulation (bench/support/provide-scale-worker.ts, own process): a
 *    2k-node effect-kad network with filled tables and the simulation
 *    suite's latency model (round trips of 20–150 ms). One node provides a
 *    sample of keys the classic way (per-key cost, extrapolated), then 10k
 *    and 100k fresh keys with `provideMany`; random readers on other nodes
 *    then look for random keys. A key count predicted not to fit the time
 *    budget is skipped and extrapolated from the largest run.
 * 2. Memory: a node with no peers provides 100k keys with `provideMany`
 *    (its own process): what holding and sweeping them costs a node.
 * 3. @libp2p/kad-dht: a loopback network of its nodes; one provides a
 *    sample of keys one after another, as its reprovider does (one
 *    `provide`, so one lookup, per key); its messages per key are
 *    extrapolated to the key counts above.
 *
 * Sizes come from the environment: `PROVIDE_SCALE_NODES` (default 2000),
 * `PROVIDE_SCALE_KEYS` (default `10000,100000`), `PROVIDE_SCALE_LONE_KEYS`
 * (default 100000). The simulation keeps to 7 minutes of its own, longer
 * than run.ts's per-suite budget; `PROVIDE_SCALE_MINUTES` gives it more
 * (the 100k-key run on 2,000 nodes took 30 on a quiet machine here).
 *
 * @module
 */
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import type { Cell, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { startTheirNode } from "./support/dht-nodes.js"
import { connectHosts, kadDhtVersion, stopHosts } from "./support/hosts.js"
import type { LoneReport, SweepReport } from "./support/provide-scale-worker.js"
import { loadNote, mebibytes } from "./support/stats.js"
import { startWorker } from "./support/worker.js"

/** The simulation's time budget (the memory and kad-dht parts take about a minute together). */
const SIMULATION_MILLIS = Number(process.env.PROVIDE_SCALE_MINUTES ?? 7) * 60 * 1000

/** @libp2p/kad-dht nodes and the keys one of them provides. */
const THEIR_NODES = 20
const THEIR_KEYS = 20

const numberList = (text: string | undefined, fallback: ReadonlyArray<number>): ReadonlyArray<number> => {
  if (text === undefined || text.trim() === "") return fallback
  const values = text.split(",").map((part) => Number(part.trim()))
  if (values.some((value) => !Number.isSafeInteger(value) || value < 1)) {
    throw new Error(`expected a comma-separated list of positive integers, got ${text}`)
  }
  return [...values].sort((a, b) => a - b)
}

interface TheirCost {
  readonly keys: number
  readonly nodes: number
  readonly millis: number
  readonly messages: number
  readonly streams: number
}

/** @libp2p/kad-dht's per-key provide cost on a loopback network of its nodes. */
const measureTheirs = async (context: SuiteContext, nodes: number, keys: number): Promise<TheirCost> => {
  const hosts = []
  try {
    const started = []
    for (let i = 0; i < nodes; i++) started.push(await startTheirNode())
    hosts.push(...started.map((node) => node.host))
    // a star around the first node, plus a neighbour each, then a settling pause for its routing tables
    for (let i = 1; i < started.length; i++) {
      await connectHosts(started[i].host, started[0].host)
      if (i > 1) await connectHosts(started[i].host, started[i - 1].host)
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const provider = started[started.length - 1]
    const cids = await Promise.all(
      Array.from({ length: keys }, async (_, i) =>
        CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`their key ${i}`)))
      )
    )
    const messages = provider.sent.messages
    const streams = provider.sent.streams
    const t = performance.now()
    for (const cid of cids) await provider.provide(cid)
    const millis = performance.now() - t
    context.log(`@libp2p/kad-dht: ${keys} provides in ${(millis / 1000).toFixed(1)} s`)
    return {
      keys,
      nodes,
      millis,
      messages: provider.sent.messages - messages,
      streams: provider.sent.streams - streams
    }
  } finally {
    await stopHosts(hosts)
  }
}

const seconds = (millis: number): string => `${(millis / 1000).toFixed(1)} s`

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  const started = Date.now()
  const load = loadNote()
  const quick = context.quick
  const nodes = numberList(process.env.PROVIDE_SCALE_NODES, [quick ? 300 : 2_000])[0]
  const keyCounts = numberList(process.env.PROVIDE_SCALE_KEYS, quick ? [1_000] : [10_000, 100_000])
  const loneKeys = numberList(process.env.PROVIDE_SCALE_LONE_KEYS, [quick ? 10_000 : 100_000])[0]

  const sim = await startWorker(new URL("./support/provide-scale-worker.ts", import.meta.url), {
    nodeFlags: ["--expose-gc", "--max-semi-space-size=64", "--max-old-space-size=12288"],
    log: (line) => context.log(`simulation: ${line}`)
  })
  let report: SweepReport
  try {
    report = await sim.call<SweepReport>("sweep", {
      nodes,
      keyCounts,
      classicSample: quick ? 40 : 200,
      readers: quick ? 100 : 400,
      seed: 17,
      budgetMillis: SIMULATION_MILLIS
    })
  } finally {
    await sim.close()
  }

  const loneWorker = await startWorker(new URL("./support/provide-scale-worker.ts", import.meta.url), {
    nodeFlags: ["--expose-gc"],
    log: (line) => context.log(`memory: ${line}`)
  })
  let lone: LoneReport
  try {
    lone = await loneWorker.call<LoneReport>("lone", { keys: loneKeys })
  } finally {
    await loneWorker.close()
  }

  const theirs = await measureTheirs(context, quick ? 8 : THEIR_NODES, quick ? 5 : THEIR_KEYS)

  const classic = report.classic
  const classicMessagesPerKey = (classic.requests + classic.messages) / classic.keys
  const classicMillisPerKey = classic.millis / classic.keys
  const theirMessagesPerKey = theirs.messages / theirs.keys

  const rows: Array<ReadonlyArray<Cell>> = []
  const largest = report.runs.at(-1)
  for (const keys of keyCounts) {
    const measured = report.runs.find((r) => r.keys === keys)
    if (measured !== undefined) {
      rows.push([
        `${keys}`,
        "sweep (measured)",
        measured.lookups,
        measured.requests + measured.messages,
        measured.peers,
        seconds(measured.millis),
        `${((100 * measured.readersFound) / measured.readers).toFixed(1)} % of ${measured.readers}`
      ])
    } else if (largest !== undefined) {
      // regions depend on the network, not the keys: lookups stay, sends grow with the keys
      const scale = keys / largest.keys
      rows.push([
        `${keys}`,
        "sweep (extrapolated)",
        largest.lookups,
        Math.round(largest.requests + largest.messages * scale),
        largest.peers,
        seconds(largest.millis * scale),
        "-"
      ])
    }
    rows.push([
      `${keys}`,
      "classic, one lookup per key (extrapolated)",
      keys,
      Math.round(classicMessagesPerKey * keys),
      "-",
      seconds(classicMillisPerKey * keys),
      "-"
    ])
    rows.push([
      `${keys}`,
      `@libp2p/kad-dht ${kadDhtVersion()} reprovide (extrapolated)`,
      keys,
      Math.round(theirMessagesPerKey * keys),
      "-",
      "-",
      "-"
    ])
  }

  const tables: Array<ResultTable> = [
    {
      title: `Providing many keys from one node of a ${report.nodes}-node simulated network (20–150 ms round trips)`,
      columns: ["keys", "how", "lookups", "messages sent", "peers sent to", "wall time", "readers found the key"],
      rows,
      notes: [
        `network built with filled tables in ${seconds(report.buildMillis)}; k = 20`,
        "messages sent: lookup requests plus ADD_PROVIDER; peers sent to: distinct peers per region, summed",
        `classic: ${classic.keys} keys provided ${classic.concurrency} at a time (as the classic reprovider): ` +
          `${(classic.requests / classic.keys).toFixed(1)} lookup requests and ` +
          `${(classic.messages / classic.keys).toFixed(1)} ADD_PROVIDER per key, ${classicMillisPerKey.toFixed(0)} ms per key`,
        `@libp2p/kad-dht: ${theirs.keys} keys provided one after another on ${theirs.nodes} loopback nodes: ` +
          `${theirMessagesPerKey.toFixed(1)} messages and ${(theirs.streams / theirs.keys).toFixed(1)} streams per key ` +
          "(its reprovider calls provide, one lookup, per key)",
        ...report.skipped.map((s) => `${s.keys} keys not run: ${s.reason}; extrapolated from the largest run`),
        `simulation process RSS after the largest sweep (all ${report.nodes} nodes and their records): ` +
          `${largest === undefined ? "-" : `${mebibytes(largest.rssAfter).toFixed(0)} MiB`}`,
        load
      ]
    },
    {
      title: "Memory of a providing node",
      columns: ["keys", "RSS before", "RSS after provideMany", "heap after", "time"],
      rows: [
        [
          lone.keys,
          `${mebibytes(lone.rssBefore).toFixed(0)} MiB`,
          `${mebibytes(lone.rssAfter).toFixed(0)} MiB`,
          `${mebibytes(lone.heapAfter).toFixed(0)} MiB`,
          seconds(lone.millis)
        ]
      ],
      notes: [
        "a node with no peers (nothing to announce to): its provided keys, their local provider records and one sweep over them, in its own process"
      ]
    }
  ]
  context.log(`done in ${seconds(Date.now() - started)}`)
  return { tables, charts: [], raw: { report, lone, theirs } }
}

/** The provide-scale suite. */
export const provideScaleSuite: Suite = {
  name: "provide-scale",
  description: "provideMany and the sweeping reprovider against one lookup per key, 10k and 100k keys on 2k nodes",
  run
}
