/**
 * Operations suite: latency (median, p95) and DHT messages sent per
 * operation for findPeer, getClosestPeers, provide, findProviders (time to
 * the first provider and to the end of the lookup) and put/get, in a
 * network of N real libp2p nodes on 127.0.0.1 (TCP, Noise, Yamux) in this
 * process: one network of effect-kad nodes and one of @libp2p/kad-dht
 * nodes, each N = 25 and N = 100; and, as the reference, one network of
 * go-libp2p-kad-dht nodes of each size, every go node its own process (the
 * go peer program of the interop suite, see bench/support/go-nodes.ts),
 * driven through its stdin/stdout commands.
 *
 * Both networks are wired alike: node i dials three earlier nodes picked by
 * a seeded PRNG, then every node looks itself up (as a node does after
 * bootstrap). The operations are then run one at a time, from origins (and
 * on targets) picked by the same seeded PRNG, so both implementations do
 * the same sequence of work in a same-shaped network. Messages are counted
 * as the origin writes them on its outbound DHT streams (see
 * bench/support/dht-nodes.ts; the go peer counts the same way), alike for
 * all three.
 *
 * @module
 */
import { compareDistance, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import type { BarChart, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import { type BenchNode, startBenchNode } from "./support/dht-nodes.js"
import { startGoBenchNode } from "./support/go-nodes.js"
import { buildGoPeer, GO, goDhtVersion } from "./support/go-peer.js"
import { connectHosts, type Impl, kadDhtVersion, OURS, stopHosts, THEIRS } from "./support/hosts.js"
import { loadNote, randomIndex, seededRandom, summarize } from "./support/stats.js"

/** Earlier nodes each newcomer dials. */
const CONTACTS = 3

/** Dials (each waiting for identify both ways) in progress at once while the network is wired. */
const WIRE_CONCURRENCY = 8

/** Self-lookups running at once while the network joins. */
const JOIN_CONCURRENCY = 4

/** Runs of each operation made even when its share of the time allowance is spent. */
const MIN_OPERATIONS = 3

/** Start-up plus join time of 100 nodes assumed before any network of that implementation was built. */
const BUILD_MILLIS_PER_NODE_GUESS = 600

/** The same for go, whose nodes start and join in parallel processes (about 0.2–0.4 s per node here). */
const GO_BUILD_MILLIS_PER_NODE_GUESS = 400

/**
 * Time this suite allows itself beyond run.ts's 5-minute budget: that budget
 * was sized for two networks per size on a quiet machine, and go's networks
 * are a third (run.ts warns of the overrun, and the README says how long the
 * suite takes).
 */
const GO_NETWORKS_EXTRA_MILLIS = 480_000

/** Stopping a network's hosts, and slack, per network. */
const TEARDOWN_MILLIS = 10_000

/** k: the nodes closest to a key that store its records. */
const K = 20

const OPERATIONS = [
  "findPeer",
  "getClosestPeers",
  "provide",
  "findProviders (first)",
  "findProviders (all)",
  "put",
  "get"
] as const
type Operation = (typeof OPERATIONS)[number]

/** The three DHTs measured: this project's, @libp2p/kad-dht and go-libp2p-kad-dht. */
type Contender = Impl | "go"
const CONTENDERS: ReadonlyArray<Contender> = ["ours", "theirs", "go"]
const implName = (c: Contender): string => (c === "ours" ? OURS : c === "theirs" ? THEIRS : GO)

/** A node of any of the three, driven the same way (a js BenchNode or a go process). */
interface OpNode {
  readonly impl: Contender
  readonly peerId: PeerId
  /** The js host; undefined for go. */
  readonly host: Libp2p | undefined
  /** Its listen addresses, with `/p2p/<id>`. */
  readonly addresses: () => ReadonlyArray<Multiaddr>
  /** DHT messages written and streams opened by the node since it started. */
  readonly counts: () => Promise<{ readonly messages: number; readonly streams: number }>
  /** Dials `to` and waits for identify. */
  readonly connect: (to: OpNode) => Promise<void>
  readonly findPeer: BenchNode["findPeer"]
  readonly getClosestPeers: BenchNode["getClosestPeers"]
  readonly provide: BenchNode["provide"]
  readonly findProviders: BenchNode["findProviders"]
  /** go only: a separate lookup stopped at the first provider (the js nodes time the first provider within findProviders). */
  readonly findFirstProvider: ((cid: CID, provider: PeerId) => Promise<boolean>) | undefined
  readonly put: BenchNode["put"]
  readonly get: BenchNode["get"]
  readonly stop: () => Promise<void>
}

const jsNode = (node: BenchNode): OpNode => ({
  impl: node.impl,
  peerId: node.peerId,
  host: node.host,
  addresses: () => node.host.getMultiaddrs(),
  counts: async () => ({ messages: node.sent.messages, streams: node.sent.streams }),
  connect: (to) => connectHosts(node.host, to.host!),
  findPeer: node.findPeer,
  getClosestPeers: node.getClosestPeers,
  provide: node.provide,
  findProviders: node.findProviders,
  findFirstProvider: undefined,
  put: node.put,
  get: node.get,
  stop: () => stopHosts([node.host])
})

const startOpNode = async (impl: Contender, goBinary: () => Promise<string>): Promise<OpNode> => {
  if (impl !== "go") return jsNode(await startBenchNode(impl))
  const node = await startGoBenchNode(await goBinary())
  return {
    ...node,
    host: undefined,
    addresses: () => node.addresses,
    connect: (to) => node.connect(to.peerId, to.addresses())
  }
}

/** One timed operation. */
interface Sample {
  readonly millis: number
  readonly messages: number
  readonly streams: number
  /** It did what was asked: found the peer, k peers, the provider, the value. */
  readonly ok: boolean
}

interface NetworkResult {
  readonly impl: Contender
  readonly size: number
  readonly startMillis: number
  readonly joinMillis: number
  readonly samples: Record<Operation, Array<Sample>>
}

const emptySamples = (): Record<Operation, Array<Sample>> =>
  Object.fromEntries(OPERATIONS.map((op) => [op, []])) as unknown as Record<Operation, Array<Sample>>

const encoder = new TextEncoder()

const cidOf = async (text: string): Promise<CID> => CID.createV1(raw.code, await sha256.digest(encoder.encode(text)))

/** Runs `f` over `items`, at most `limit` at a time. */
const forEachLimit = async <A>(items: ReadonlyArray<A>, limit: number, f: (item: A) => Promise<void>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await f(items[next++])
    })
  )
}

/** Starts `size` nodes and wires them: node i dials {@link CONTACTS} earlier nodes chosen by the seeded PRNG. */
const buildNetwork = async (
  context: SuiteContext,
  impl: Contender,
  size: number,
  seed: number,
  goBinary: () => Promise<string>
) => {
  const started = performance.now()
  const nodes: Array<OpNode> = []
  try {
    while (nodes.length < size) {
      const batch = Math.min(10, size - nodes.length)
      const settled = await Promise.allSettled(Array.from({ length: batch }, () => startOpNode(impl, goBinary)))
      for (const s of settled) if (s.status === "fulfilled") nodes.push(s.value)
      const failed = settled.find((s) => s.status === "rejected")
      if (failed !== undefined) throw failed.reason
    }
    // the graph is drawn first, so that dialling several nodes' contacts at once leaves it the same
    const random = seededRandom(seed)
    const links: Array<[number, number]> = []
    for (let i = 1; i < size; i++) {
      const contacts = new Set<number>()
      while (contacts.size < Math.min(CONTACTS, i)) contacts.add(randomIndex(random, i))
      for (const c of contacts) links.push([i, c])
    }
    await forEachLimit(links, WIRE_CONCURRENCY, ([from, to]) => nodes[from].connect(nodes[to]))
  } catch (error) {
    await stopNodes(nodes)
    throw error
  }
  const startMillis = performance.now() - started
  context.log(`${implName(impl)} × ${size}: ${size} hosts started and wired in ${(startMillis / 1000).toFixed(1)} s`)
  const joining = performance.now()
  await forEachLimit(nodes, JOIN_CONCURRENCY, async (node) => {
    await node.getClosestPeers(node.peerId.toMultihash().bytes)
  })
  // kad-dht admits newcomers to its routing table after a ping, in the background: let that settle
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  const joinMillis = performance.now() - joining
  context.log(`${implName(impl)} × ${size}: every node looked itself up in ${(joinMillis / 1000).toFixed(1)} s`)
  return { nodes, startMillis, joinMillis }
}

/** Stops every node, all at once (each stop is bounded). */
const stopNodes = async (nodes: ReadonlyArray<OpNode>): Promise<void> => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)))
}

/** Times one operation on `node` and counts the DHT messages it sent meanwhile (counts read outside the timing). */
const timed = async (node: OpNode, run: () => Promise<boolean>): Promise<Sample> => {
  const before = await node.counts()
  const started = performance.now()
  let ok = false
  try {
    ok = await run()
  } catch {
    ok = false
  }
  const millis = performance.now() - started
  const after = await node.counts()
  return { millis, messages: after.messages - before.messages, streams: after.streams - before.streams, ok }
}

/** The nodes among the k closest to `key` by XOR distance, found by sorting every node. */
const trueClosest = (nodes: ReadonlyArray<OpNode>, key: Uint8Array): Set<OpNode> => {
  const target = kadIdOfKey(key)
  const ids = new Map(nodes.map((n) => [n, kadIdOfPeer(n.peerId)]))
  return new Set([...nodes].sort((a, b) => compareDistance(ids.get(a)!, ids.get(b)!, target)).slice(0, K))
}

/** An origin outside the k closest to `key` (which may hold its records locally), other than `not`. */
const remoteOrigin = (nodes: ReadonlyArray<OpNode>, key: Uint8Array, not: OpNode, random: () => number): OpNode => {
  const closest = trueClosest(nodes, key)
  const far = nodes.filter((n) => n !== not && !closest.has(n))
  const pool = far.length > 0 ? far : nodes.filter((n) => n !== not)
  return pool[randomIndex(random, pool.length)]
}

/**
 * Runs every operation up to `count` times, in order, from PRNG-chosen
 * origins, within `allowanceMillis`: each of the five groups (findPeer,
 * getClosestPeers, provide, findProviders, put/get) gets a fifth of it, and
 * at least {@link MIN_OPERATIONS} runs whatever the time.
 */
const measureOperations = async (
  context: SuiteContext,
  nodes: ReadonlyArray<OpNode>,
  count: number,
  seed: number,
  allowanceMillis: number
): Promise<Record<Operation, Array<Sample>>> => {
  const samples = emptySamples()
  const groupStarted = performance.now()
  let group = 0
  const more = (i: number) =>
    i < count && (i < MIN_OPERATIONS || performance.now() < groupStarted + (allowanceMillis * group) / 5)
  const random = seededRandom(seed)
  const pick = () => nodes[randomIndex(random, nodes.length)]
  const pickOther = (not: OpNode) => {
    for (;;) {
      const node = pick()
      if (node !== not) return node
    }
  }
  const label = `${implName(nodes[0].impl)} × ${nodes.length}`
  const started = performance.now()
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`

  context.log(`${label}: findPeer`)
  group++
  for (let i = 0; more(i); i++) {
    const origin = pick()
    const target = pickOther(origin)
    samples.findPeer.push(await timed(origin, () => origin.findPeer(target.peerId)))
  }
  context.log(`${label}: getClosestPeers (at ${elapsed()})`)
  group++
  for (let i = 0; more(i); i++) {
    const origin = pick()
    const key = crypto.getRandomValues(new Uint8Array(32))
    samples.getClosestPeers.push(
      await timed(origin, async () => (await origin.getClosestPeers(key)).length === Math.min(K, nodes.length - 1))
    )
  }
  context.log(`${label}: provide (at ${elapsed()})`)
  const provided: Array<{ cid: CID; provider: OpNode }> = []
  group++
  for (let i = 0; more(i); i++) {
    const provider = pick()
    const cid = await cidOf(`operations bench ${seed} content ${i}`)
    samples.provide.push(
      await timed(provider, async () => {
        await provider.provide(cid)
        return true
      })
    )
    provided.push({ cid, provider })
  }
  context.log(`${label}: findProviders (at ${elapsed()})`)
  group++
  for (let i = 0; i < provided.length && more(i); i++) {
    const { cid, provider } = provided[i]
    const origin = remoteOrigin(nodes, cid.multihash.bytes, provider, random)
    let first: number | undefined
    const started = performance.now()
    const all = await timed(origin, async () => {
      let found = false
      await origin.findProviders(cid, (id: PeerId) => {
        if (id.equals(provider.peerId) && !found) {
          found = true
          first = performance.now() - started
        }
      })
      return found
    })
    samples["findProviders (all)"].push(all)
    const firstProvider = origin.findFirstProvider
    if (firstProvider !== undefined) {
      // go hands its providers back at the end of the lookup: its first is a lookup of its own, stopped at one
      const own = await timed(origin, () => firstProvider(cid, provider.peerId))
      if (own.ok) samples["findProviders (first)"].push(own)
    } else if (first !== undefined) samples["findProviders (first)"].push({ ...all, millis: first })
  }
  context.log(`${label}: put/get (at ${elapsed()})`)
  group++
  for (let i = 0; more(i); i++) {
    const putter = pick()
    const key = encoder.encode(`/bench/operations-${seed}-${i}`)
    const value = crypto.getRandomValues(new Uint8Array(32))
    samples.put.push(
      await timed(putter, async () => {
        await putter.put(key, value)
        return true
      })
    )
    const getter = remoteOrigin(nodes, key, putter, random)
    samples.get.push(
      await timed(getter, async () => {
        const got = await getter.get(key)
        return got !== undefined && got.length === value.length && got.every((b, j) => b === value[j])
      })
    )
  }
  context.log(`${label}: operations done in ${elapsed()}`)
  return samples
}

const runNetwork = async (
  context: SuiteContext,
  impl: Contender,
  size: number,
  count: number,
  seed: number,
  allowanceMillis: number,
  goBinary: () => Promise<string>
): Promise<NetworkResult> => {
  const { nodes, startMillis, joinMillis } = await buildNetwork(context, impl, size, seed, goBinary)
  try {
    const samples = await measureOperations(context, nodes, count, seed + 1, allowanceMillis)
    return { impl, size, startMillis, joinMillis, samples }
  } finally {
    await stopNodes(nodes)
  }
}

/** Predicted start-up plus join time of a network, from the last one built of that implementation (or either). */
const buildEstimate = (results: ReadonlyArray<NetworkResult>, impl: Contender, size: number): number => {
  // go's networks (separate processes) and the js ones (one process) do not predict each other
  const previous =
    results.filter((r) => r.impl === impl).at(-1) ?? results.filter((r) => (r.impl === "go") === (impl === "go")).at(-1)
  if (previous === undefined)
    return size * (impl === "go" ? GO_BUILD_MILLIS_PER_NODE_GUESS : BUILD_MILLIS_PER_NODE_GUESS)
  // joining costs a little more than linearly: more nodes, longer lookups, more connections each
  return (previous.startMillis + previous.joinMillis) * (size / previous.size) * 1.25
}

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  const load = loadNote()
  const remainingMillis = () => context.remainingMillis() + GO_NETWORKS_EXTRA_MILLIS
  const sizes = context.quick ? [25] : [25, 100]
  const count = context.quick ? 5 : 20
  // reverse the order from one size to the next
  const networks = sizes.flatMap((size, s) =>
    (s % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse()).map((impl) => ({ impl, size }))
  )
  // the go peer program is built (a second or two when warm) the first time a go node starts
  let goBuild: Promise<string> | undefined
  const goBinary = () => {
    goBuild ??= buildGoPeer()
    return goBuild
  }
  const results: Array<NetworkResult> = []
  const skipped: Array<string> = []
  // An error no caller can see (a library's background promise or event listener, for example on an aborted
  // query) would end the process; it is counted and reported instead, with the network that was running.
  const stray: Array<string> = []
  let running = "?"
  const onStray = (reason: unknown) => {
    stray.push(`${running}: ${reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)}`)
  }
  process.on("unhandledRejection", onStray)
  process.on("uncaughtException", onStray)
  try {
    for (const [n, { impl, size }] of networks.entries()) {
      // what is left of the budget, less building and stopping every network still to come, shared by their operations
      const left = networks.slice(n)
      const reserve = left.reduce((sum, l) => sum + buildEstimate(results, l.impl, l.size) + TEARDOWN_MILLIS, 0)
      const allowance = (remainingMillis() - reserve) / left.length
      if (allowance < 10_000) {
        skipped.push(`${implName(impl)} × ${size}`)
        context.log(
          `skipping ${implName(impl)} × ${size}: ${Math.round(reserve / 1000)} s of building left to do, budget left ${Math.round(remainingMillis() / 1000)} s`
        )
        continue
      }
      running = `${implName(impl)} × ${size}`
      results.push(await runNetwork(context, impl, size, count, 1_000 + size, allowance, goBinary))
    }
  } finally {
    process.off("unhandledRejection", onStray)
    process.off("uncaughtException", onStray)
  }

  const version = kadDhtVersion()
  const goVersion = goDhtVersion()
  const measuredSizes = [...new Set(results.map((r) => r.size))]
  const stat = (impl: Contender, size: number, op: Operation, pick: (samples: ReadonlyArray<Sample>) => number) => {
    const samples = results.find((r) => r.impl === impl && r.size === size)?.samples[op]
    return samples === undefined || samples.length === 0 ? Number.NaN : pick(samples)
  }
  const latency = (q: "median" | "p95") => (samples: ReadonlyArray<Sample>) =>
    summarize(samples.map((s) => s.millis))?.[q] ?? Number.NaN
  const meanOf = (pick: (s: Sample) => number) => (samples: ReadonlyArray<Sample>) =>
    summarize(samples.map(pick))?.mean ?? Number.NaN
  const rows = (make: (size: number, op: Operation) => Array<string | number>) =>
    measuredSizes.flatMap((size) => OPERATIONS.map((op) => make(size, op)))
  const method = [
    `up to ${count} operations of each kind per network (fewer when the time budget runs short, see the last table), one at a time, origins and targets from a seeded PRNG (the same for all three)`,
    `network: node i dials ${CONTACTS} earlier nodes, then every node looks itself up (${JOIN_CONCURRENCY} at a time); TCP + Noise + Yamux on 127.0.0.1; js nodes all in this process, each go node its own process driven over stdin/stdout (the command round trip is inside go's times)`,
    "findPeer: the target is first removed from the origin's peer store (js; kad-dht is asked with useCache: false), or go's connections to it are closed (go answers from a live connection), so all look it up; js stop at the first answer naming it, go once it has connected to it",
    "findProviders and get: the origin is outside the 20 nodes closest to the key, so it holds no copy of the record itself",
    "findProviders (first): js time the first provider within the whole lookup; go returns its providers at the end, so its (first) is a lookup of its own asked for one provider (count 1), which go stops there",
    ...(skipped.length > 0 ? [`not measured (time budget): ${skipped.join(", ")}`] : []),
    stray.length === 0
      ? "no stray errors (raised to no caller) during the run"
      : `stray errors caught (raised to no caller): ${[...new Set(stray)].map((s) => `${s} ×${stray.filter((x) => x === s).length}`).join("; ")}`
  ]
  const tables: Array<ResultTable> = [
    {
      title: "Operation latency (ms, lower is better)",
      columns: [
        "N",
        "operation",
        `median: ${OURS}`,
        `median: ${THEIRS}`,
        `median: ${GO}`,
        "ours / js",
        "ours / go",
        "p95: ours",
        "p95: js",
        "p95: go",
        "ours / js (p95)",
        "ours / go (p95)"
      ],
      rows: rows((size, op) => {
        const m = (impl: Contender) => stat(impl, size, op, latency("median"))
        const p = (impl: Contender) => stat(impl, size, op, latency("p95"))
        return [
          size,
          op,
          m("ours"),
          m("theirs"),
          m("go"),
          formatRatio(m("ours") / m("theirs")),
          formatRatio(m("ours") / m("go")),
          p("ours"),
          p("theirs"),
          p("go"),
          formatRatio(p("ours") / p("theirs")),
          formatRatio(p("ours") / p("go"))
        ]
      }),
      notes: [...method, `js is ${THEIRS} ${version}; go is ${GO} ${goVersion}`, load]
    },
    {
      title: "DHT messages sent per operation by the origin (mean, lower is better)",
      columns: [
        "N",
        "operation",
        `messages: ${OURS}`,
        `messages: ${THEIRS}`,
        `messages: ${GO}`,
        "ours / js",
        "ours / go",
        "streams opened: ours",
        "streams opened: js",
        "streams opened: go"
      ],
      rows: rows((size, op) => {
        const msg = (impl: Contender) =>
          stat(
            impl,
            size,
            op,
            meanOf((s) => s.messages)
          )
        const str = (impl: Contender) =>
          stat(
            impl,
            size,
            op,
            meanOf((s) => s.streams)
          )
        return [
          size,
          op,
          msg("ours"),
          msg("theirs"),
          msg("go"),
          formatRatio(msg("ours") / msg("theirs")),
          formatRatio(msg("ours") / msg("go")),
          str("ours"),
          str("theirs"),
          str("go")
        ]
      }),
      notes: [
        "messages: framed DHT messages the origin wrote on the streams it opened for /ipfs/kad/1.0.0 during the operation (requests, ADD_PROVIDER, PUT_VALUE), background work included; answers it gave others are not counted. js: its connection manager's openStream wrapped; go: the host handed to the DHT wraps NewStream (the go peer's --bench), both splitting what is written into frames",
        "streams: outbound DHT streams it opened meanwhile (effect-kad and go reuse idle streams per peer, kad-dht opens one per request)",
        "findProviders (first) counts the messages of the whole lookup for the js DHTs, as (all) does; go's counts its own lookup stopped at one provider"
      ]
    },
    {
      title: "Operations that did what was asked",
      columns: ["N", "operation", OURS, THEIRS, GO],
      rows: rows((size, op) => {
        const ok = (impl: Contender) => {
          const samples = results.find((r) => r.impl === impl && r.size === size)?.samples[op]
          if (samples === undefined) return "not run"
          // a lookup that never found the provider has no time to first: count against every lookup run
          const runs =
            op === "findProviders (first)"
              ? (results.find((r) => r.impl === impl && r.size === size)?.samples["findProviders (all)"].length ?? 0)
              : samples.length
          return `${samples.filter((s) => s.ok).length} / ${runs}`
        }
        return [size, op, ok("ours"), ok("theirs"), ok("go")]
      }),
      notes: [
        "findPeer: the target found; getClosestPeers: k (or N − 1) peers returned; provide, put: finished without error; findProviders: the provider found; get: the value put",
        `network set-up time (s): ${results.map((r) => `${implName(r.impl)} × ${r.size}: start + wire ${(r.startMillis / 1000).toFixed(1)}, join ${(r.joinMillis / 1000).toFixed(1)}`).join("; ")}`
      ]
    }
  ]
  const chart = (
    title: string,
    unit: string,
    size: number,
    pick: (samples: ReadonlyArray<Sample>) => number
  ): BarChart => ({
    title,
    unit,
    groups: OPERATIONS.map((op) => ({
      label: op,
      bars: CONTENDERS.map((impl) => ({ series: implName(impl), value: stat(impl, size, op, pick) }))
    }))
  })
  return {
    tables,
    charts: measuredSizes.flatMap((size) => [
      chart(`Median latency per operation, N = ${size}`, "ms", size, latency("median")),
      chart(
        `DHT messages sent per operation, N = ${size}`,
        "messages",
        size,
        meanOf((s) => s.messages)
      )
    ]),
    raw: { kadDhtVersion: version, goKadDhtVersion: goVersion, count, results }
  }
}

/** The operations suite, registered in `bench/run.ts`. */
export const operationsSuite: Suite = {
  name: "operations",
  description:
    "findPeer, getClosestPeers, provide, findProviders, put/get: latency and messages in 25- and 100-node networks of ours, @libp2p/kad-dht and go-libp2p-kad-dht",
  run
}
