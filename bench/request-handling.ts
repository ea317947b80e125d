/**
 * Request-handling suite: how many FIND_NODE and GET_PROVIDERS requests per
 * second ONE server node answers over real loopback TCP (Noise, Yamux), for
 * the effect-kad DHT, @libp2p/kad-dht and go-libp2p-kad-dht, with the
 * server's CPU time per request and its resident memory.
 *
 * The server runs alone in a child process: a Node worker
 * (bench/support/request-server.ts) for the two js DHTs, the go peer program
 * (bench/support/go-peer.ts) for go. Its CPU time and RSS are read from
 * /proc/<pid> by this process, the same way for all three. Its routing table
 * is offered 200 made-up peers (so every answer carries k = 20 closer peers)
 * and its provider store holds 10 providers of the GET_PROVIDERS key. The
 * load comes from this process: a few plain libp2p client hosts, each
 * writing framed requests built with core's codec on DHT streams opened with
 * `dialProtocol`, many requests in turn on each stream (as the spec allows),
 * the next one written as soon as the previous answer arrived. Every server
 * gets exactly the same client, request bytes and schedule; each run is
 * bounded by time and by a request count.
 *
 * @module
 */
import { decodeMessage, encodeMessage, frame, type Message, MessageType } from "@effect-kad/core"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Either } from "effect"
import type { Libp2p } from "libp2p"
import { fastPeerIds } from "./lib/ids.js"
import { median } from "./lib/measure.js"
import type { BarChart, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import { FrameExchange } from "./support/frames.js"
import { buildGoPeer, GO, goDhtVersion, startGoPeer } from "./support/go-peer.js"
import { type Impl, OURS, PROTOCOL, startHost, stopHosts, THEIRS } from "./support/hosts.js"
import { processUsage } from "./support/proc.js"
import {
  CLOSER_PEERS,
  madeUpAddress,
  PROVIDERS,
  providerCid,
  ROUTING_TABLE_PEERS,
  type ServerInfo,
  type ServerUsage
} from "./support/request-fixture.js"
import { cpuMillis, loadNote, mebibytes, quantile } from "./support/stats.js"
import { startWorker, type Worker } from "./support/worker.js"

/** The three servers measured: this project's, @libp2p/kad-dht, go-libp2p-kad-dht. */
type Contender = Impl | "go"
const CONTENDERS: ReadonlyArray<Contender> = ["ours", "theirs", "go"]
const contenderName = (c: Contender): string => (c === "ours" ? OURS : c === "theirs" ? THEIRS : GO)

/** Client hosts generating the load; each has its own connection to the server. */
const CLIENT_HOSTS = 4

/** Streams in flight at once, spread over the client hosts (1: one request at a time). */
const CONCURRENCY = [1, 32] as const

/** Every how many responses one is decoded in full and checked; the others are only framed. */
const CHECK_EVERY = 8

/** Upper bound of one run, whatever its time budget. */
const MAX_REQUESTS_PER_RUN = 500_000

type Kind = "FIND_NODE" | "GET_PROVIDERS"
const KINDS: ReadonlyArray<Kind> = ["FIND_NODE", "GET_PROVIDERS"]

interface Plan {
  readonly rounds: number
  readonly warmupMillis: number
  readonly runMillis: number
}

/** One timed run against one server. */
interface Run {
  readonly impl: Contender
  readonly kind: Kind
  readonly concurrency: number
  readonly requests: number
  readonly millis: number
  readonly perSecond: number
  readonly latencyP50: number
  readonly latencyP99: number
  /** Server CPU (user + system) per answered request, in microseconds. */
  readonly serverCpuMicros: number
  /** Server CPU time over wall time: 1 is one core kept busy. */
  readonly serverCpuShare: number
  /** Load generator CPU over wall time (this process, all client hosts). */
  readonly clientCpuShare: number
  readonly serverRss: number
  /** Responses decoded and checked, and how many of them were not the expected answer. */
  readonly checked: number
  readonly wrong: number
  readonly errors: number
}

interface ServerRecord {
  readonly impl: Contender
  readonly round: number
  readonly info: ServerInfo
  /** RSS (from /proc) right after start and filling, before any load. */
  readonly idleRss: number
  /** The js heap then (process.memoryUsage in the worker); undefined for go. */
  readonly idleHeap: number | undefined
  /** Largest RSS seen at the end of a run. */
  readonly peakRss: number
}

/** Pre-encoded framed requests: a pool of FIND_NODE keys, one GET_PROVIDERS key. */
interface Requests {
  readonly findNode: ReadonlyArray<Uint8Array>
  readonly getProviders: Uint8Array
}

const makeRequests = async (): Promise<Requests> => {
  const findNode = Array.from({ length: 1024 }, () =>
    frame(
      encodeMessage({
        type: MessageType.FIND_NODE,
        key: crypto.getRandomValues(new Uint8Array(32)),
        closerPeers: [],
        providerPeers: []
      })
    )
  )
  const key = (await providerCid()).multihash.bytes
  const getProviders = frame(
    encodeMessage({ type: MessageType.GET_PROVIDERS, key: new Uint8Array(key), closerPeers: [], providerPeers: [] })
  )
  return { findNode, getProviders }
}

/** Whether a decoded response is the full answer both servers are set up to give. */
const isExpected = (kind: Kind, message: Message): boolean =>
  kind === "FIND_NODE"
    ? message.type === MessageType.FIND_NODE && message.closerPeers.length === CLOSER_PEERS
    : message.type === MessageType.GET_PROVIDERS &&
      message.closerPeers.length === CLOSER_PEERS &&
      message.providerPeers.length === PROVIDERS

interface LoadResult {
  readonly requests: number
  readonly millis: number
  readonly latencies: Array<number>
  readonly checked: number
  readonly wrong: number
  readonly errors: number
}

/**
 * Keeps `exchanges.length` requests in flight until `millis` pass or
 * `maxRequests` were answered; each stream writes its next request when its
 * previous answer is in.
 */
const runLoad = async (
  exchanges: ReadonlyArray<FrameExchange>,
  kind: Kind,
  requests: Requests,
  millis: number,
  maxRequests: number
): Promise<LoadResult> => {
  const latencies: Array<number> = []
  let answered = 0
  let checked = 0
  let wrong = 0
  let errors = 0
  const started = performance.now()
  const until = started + millis
  await Promise.all(
    exchanges.map(async (exchange, s) => {
      let i = s
      while (performance.now() < until && answered < maxRequests) {
        const bytes = kind === "FIND_NODE" ? requests.findNode[i % requests.findNode.length] : requests.getProviders
        i += exchanges.length
        const sent = performance.now()
        let body: Uint8Array
        try {
          body = await exchange.request(bytes)
        } catch {
          errors++
          return
        }
        latencies.push(performance.now() - sent)
        answered++
        if (answered % CHECK_EVERY === 0) {
          checked++
          const decoded = decodeMessage(body)
          if (Either.isLeft(decoded) || !isExpected(kind, decoded.right)) wrong++
        }
      }
    })
  )
  return { requests: answered, millis: performance.now() - started, latencies, checked, wrong, errors }
}

/** Opens `count` DHT streams to the server, spread round-robin over the client hosts. */
const openExchanges = async (clients: ReadonlyArray<Libp2p>, server: ServerInfo, count: number) => {
  const peer = peerIdFromString(server.peerId)
  return Promise.all(
    Array.from(
      { length: count },
      async (_, i) => new FrameExchange(await clients[i % clients.length].dialProtocol(peer, PROTOCOL))
    )
  )
}

/** A started, filled server process. */
interface Server {
  readonly pid: number
  readonly info: ServerInfo
  readonly idleHeap: number | undefined
  readonly close: () => Promise<void>
}

/** A js server: the DHT in a Node worker (bench/support/request-server.ts), which fills it itself. */
const startJsServer = async (context: SuiteContext, impl: Impl): Promise<Server> => {
  const worker: Worker = await startWorker(new URL("./support/request-server.ts", import.meta.url), {
    log: (line) => context.log(`server: ${line}`)
  })
  try {
    const info = await worker.call<ServerInfo>("start", { impl })
    const idle = await worker.call<ServerUsage>("usage")
    return { pid: worker.pid, info, idleHeap: idle.heapUsed, close: () => worker.close() }
  } catch (error) {
    await worker.close()
    throw error
  }
}

/**
 * The go server: the go peer program with no background routing-table
 * refresh (which would dial the made-up peers), filled through its bench
 * commands with peers and providers made the way request-server.ts makes
 * them (random peer IDs, made-up private addresses).
 */
const startGoServer = async (context: SuiteContext, binary: string): Promise<Server> => {
  const peer = await startGoPeer(binary, ["--no-auto-refresh"], (line) => context.log(`go server: ${line}`))
  try {
    const made = (count: number, offset: number) =>
      fastPeerIds(count).map((id, i) => ({ id: id.toString(), addrs: [madeUpAddress(offset + i).toString()] }))
    const table = await peer.request("seedRoutingTable", { peers: made(ROUTING_TABLE_PEERS, 0) })
    const stored = await peer.request("seedProviders", {
      cid: (await providerCid()).toString(),
      providers: made(PROVIDERS, ROUTING_TABLE_PEERS)
    })
    const info: ServerInfo = {
      peerId: peer.peerId.toString(),
      addresses: peer.addresses.map(String),
      tableSize: Number(table.size),
      providers: Number(stored.count),
      version: goDhtVersion()
    }
    return { pid: peer.pid, info, idleHeap: undefined, close: () => peer.stop() }
  } catch (error) {
    await peer.stop()
    throw error
  }
}

const measureServer = async (
  context: SuiteContext,
  impl: Contender,
  round: number,
  clients: ReadonlyArray<Libp2p>,
  requests: Requests,
  plan: Plan,
  goBinary: string
): Promise<{ record: ServerRecord; runs: Array<Run> }> => {
  const server = impl === "go" ? await startGoServer(context, goBinary) : await startJsServer(context, impl)
  try {
    const { info } = server
    context.log(
      `${contenderName(impl)} server up (round ${round + 1}): table holds ${info.tableSize} of ${ROUTING_TABLE_PEERS} peers, ${info.providers} providers`
    )
    const idleRss = processUsage(server.pid).rss
    const addresses = info.addresses.map((a) => multiaddr(a))
    await Promise.all(clients.map((client) => client.dial(addresses)))
    let peakRss = idleRss
    const runs: Array<Run> = []
    // one warm-up run of each kind at full concurrency, so that every server is measured warm (JIT, pools)
    const warm = await openExchanges(clients, info, Math.max(...CONCURRENCY))
    for (const kind of KINDS) await runLoad(warm, kind, requests, plan.warmupMillis, MAX_REQUESTS_PER_RUN)
    await Promise.all(warm.map((e) => e.close()))
    for (const kind of KINDS) {
      for (const concurrency of CONCURRENCY) {
        const exchanges = await openExchanges(clients, info, concurrency)
        const before = processUsage(server.pid)
        const clientBefore = process.cpuUsage()
        const load = await runLoad(exchanges, kind, requests, plan.runMillis, MAX_REQUESTS_PER_RUN)
        const clientCpu = cpuMillis(process.cpuUsage(clientBefore))
        const after = processUsage(server.pid)
        await Promise.all(exchanges.map((e) => e.close()))
        peakRss = Math.max(peakRss, after.rss)
        const serverCpu = after.cpuMillis - before.cpuMillis
        const run: Run = {
          impl,
          kind,
          concurrency,
          requests: load.requests,
          millis: load.millis,
          perSecond: (load.requests * 1000) / load.millis,
          latencyP50: load.latencies.length > 0 ? median(load.latencies) : Number.NaN,
          latencyP99: load.latencies.length > 0 ? quantile(load.latencies, 0.99) : Number.NaN,
          serverCpuMicros: load.requests > 0 ? (serverCpu * 1000) / load.requests : Number.NaN,
          serverCpuShare: serverCpu / load.millis,
          clientCpuShare: clientCpu / load.millis,
          serverRss: after.rss,
          checked: load.checked,
          wrong: load.wrong,
          errors: load.errors
        }
        runs.push(run)
        context.log(
          `  ${kind} × ${concurrency} stream(s): ${Math.round(run.perSecond)} req/s, p50 ${run.latencyP50.toFixed(2)} ms, ` +
            `server ${run.serverCpuMicros.toFixed(0)} µs CPU/req (${(run.serverCpuShare * 100).toFixed(0)}% of a core), ` +
            `client ${(run.clientCpuShare * 100).toFixed(0)}%, ${run.wrong}/${run.checked} wrong, ${run.errors} errors`
        )
      }
    }
    await Promise.all(clients.map((client) => client.hangUp(peerIdFromString(info.peerId))))
    return { record: { impl, round, info, idleRss, idleHeap: server.idleHeap, peakRss }, runs }
  } finally {
    await server.close()
  }
}

/** The median over rounds of one statistic of the runs of one server, kind and concurrency. */
const medianOf = (
  runs: ReadonlyArray<Run>,
  impl: Contender,
  kind: Kind,
  concurrency: number,
  pick: (run: Run) => number
): number => {
  const values = runs.filter((r) => r.impl === impl && r.kind === kind && r.concurrency === concurrency).map(pick)
  return values.length > 0 ? median(values) : Number.NaN
}

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  const load = loadNote()
  const plan: Plan = context.quick
    ? { rounds: 1, warmupMillis: 500, runMillis: 1_500 }
    : { rounds: 2, warmupMillis: 2_000, runMillis: 6_000 }
  const requests = await makeRequests()
  context.log("building the go peer program (warm: a few seconds)")
  const goBinary = await buildGoPeer()
  const clients = await Promise.all(Array.from({ length: CLIENT_HOSTS }, () => startHost()))
  const runs: Array<Run> = []
  const servers: Array<ServerRecord> = []
  try {
    for (let round = 0; round < plan.rounds; round++) {
      // alternate the order, so that no server always meets a fresher machine
      const order: ReadonlyArray<Contender> = round % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse()
      for (const impl of order) {
        // a server costs about 4 runs, a warm-up and a start
        if (round > 0 && context.remainingMillis() < 5 * plan.runMillis + 10_000) {
          context.log(`skipping the rest of round ${round + 1}: not enough of the time budget left`)
          break
        }
        const measured = await measureServer(context, impl, round, clients, requests, plan, goBinary)
        servers.push(measured.record)
        runs.push(...measured.runs)
      }
    }
  } finally {
    await stopHosts(clients)
  }

  const version = (impl: Contender) => servers.find((s) => s.impl === impl)?.info.version ?? "?"
  const versioned = (impl: Contender) => (impl === "ours" ? OURS : `${contenderName(impl)} ${version(impl)}`)
  const roundsOf = (impl: Contender) => servers.filter((s) => s.impl === impl).length
  const cases = KINDS.flatMap((kind) => CONCURRENCY.map((concurrency) => ({ kind, concurrency })))
  const totalWrong = runs.reduce((n, r) => n + r.wrong, 0)
  const totalChecked = runs.reduce((n, r) => n + r.checked, 0)
  const totalErrors = runs.reduce((n, r) => n + r.errors, 0)
  /** One statistic for every contender, then ours over each of the others. */
  const threeWay = (kind: Kind, concurrency: number, pick: (run: Run) => number) => {
    const [o, t, g] = CONTENDERS.map((impl) => medianOf(runs, impl, kind, concurrency, pick))
    return { values: [o, t, g], ratios: [formatRatio(o / t), formatRatio(o / g)] }
  }
  const method = [
    "each server alone in its own process (the js DHTs in a Node worker, go in its peer program); load from " +
      `${CLIENT_HOSTS} client hosts in this process, over TCP + Noise + Yamux on 127.0.0.1`,
    `streams: requests in flight at once, each stream sending its next request when the answer is in; ${plan.runMillis / 1000} s per run after a ${plan.warmupMillis / 1000} s warm-up, median of ${CONTENDERS.map((c) => `${roundsOf(c)}`).join("/")} round(s) (ours/js/go; order reversed each round)`,
    `routing table offered ${ROUTING_TABLE_PEERS} made-up peers; every answer must carry ${CLOSER_PEERS} closer peers (GET_PROVIDERS also ${PROVIDERS} providers): ${totalWrong} of ${totalChecked} checked answers were not, ${totalErrors} stream errors`,
    `js = ${versioned("theirs")}, go = ${versioned("go")} (its routing-table auto-refresh off, so it never dials the made-up peers)`
  ]
  const tables: Array<ResultTable> = [
    {
      title: "Requests answered per second by one server (higher is better)",
      columns: [
        "request",
        "streams",
        OURS,
        THEIRS,
        GO,
        "ours / js",
        "ours / go",
        "p50 ms: ours",
        "p50 ms: js",
        "p50 ms: go",
        "p99 ms: ours",
        "p99 ms: js",
        "p99 ms: go"
      ],
      rows: cases.map(({ kind, concurrency }) => {
        const rate = threeWay(kind, concurrency, (r) => r.perSecond)
        return [
          kind,
          concurrency,
          ...rate.values,
          ...rate.ratios,
          ...threeWay(kind, concurrency, (r) => r.latencyP50).values,
          ...threeWay(kind, concurrency, (r) => r.latencyP99).values
        ]
      }),
      notes: [...method, load]
    },
    {
      title: "Server CPU time per request (µs, lower is better) and CPU use",
      columns: [
        "request",
        "streams",
        `µs/req: ${OURS}`,
        `µs/req: ${THEIRS}`,
        `µs/req: ${GO}`,
        "ours / js",
        "ours / go",
        "server CPU: ours",
        "server CPU: js",
        "server CPU: go",
        "client CPU: ours run",
        "client CPU: js run",
        "client CPU: go run"
      ],
      rows: cases.map(({ kind, concurrency }) => {
        const cpu = threeWay(kind, concurrency, (r) => r.serverCpuMicros)
        const percent = (values: ReadonlyArray<number>) => values.map((v) => `${Math.round(v * 100)}%`)
        return [
          kind,
          concurrency,
          ...cpu.values,
          ...cpu.ratios,
          ...percent(threeWay(kind, concurrency, (r) => r.serverCpuShare).values),
          ...percent(threeWay(kind, concurrency, (r) => r.clientCpuShare).values)
        ]
      }),
      notes: [
        "µs/req: the server process's user + system CPU time (utime + stime of /proc/<pid>/stat, read by this process before and after the run, 10 ms ticks) divided by the requests answered; the same for all three",
        "CPU: CPU time over wall time, 100% = one core busy (go may use both cores); client = this process (all client hosts), which shares the machine's 2 cores with the server"
      ]
    },
    {
      title: "Server memory (MiB)",
      columns: [
        "",
        "routing table peers",
        "providers",
        "RSS idle",
        "RSS peak under load",
        "ours / this (idle)",
        "ours / this (peak)",
        "js heap idle"
      ],
      rows: CONTENDERS.map((impl) => {
        const of = (who: Contender) => servers.filter((s) => s.impl === who)
        const idle = (who: Contender) => median(of(who).map((s) => mebibytes(s.idleRss)))
        const peak = (who: Contender) => median(of(who).map((s) => mebibytes(s.peakRss)))
        const heaps = of(impl).flatMap((s) => (s.idleHeap === undefined ? [] : [mebibytes(s.idleHeap)]))
        return [
          versioned(impl),
          median(of(impl).map((s) => s.info.tableSize)),
          median(of(impl).map((s) => s.info.providers)),
          idle(impl),
          peak(impl),
          formatRatio(idle("ours") / idle(impl)),
          formatRatio(peak("ours") / peak(impl)),
          heaps.length > 0 ? median(heaps) : "–"
        ]
      }),
      notes: [
        "RSS: VmRSS of /proc/<pid>/status; idle: after the host started and the routing table and provider store were filled, before any request; peak: the largest at the end of a run",
        "each server process holds one libp2p host (TCP, Noise, Yamux, Identify, Ping) and its DHT; go's also reads its commands on stdin (idle during the load)"
      ]
    }
  ]
  const chart = (title: string, unit: string, pick: (run: Run) => number): BarChart => ({
    title,
    unit,
    groups: cases.map(({ kind, concurrency }) => ({
      label: `${kind} × ${concurrency}`,
      bars: CONTENDERS.map((impl) => ({
        series: contenderName(impl),
        value: medianOf(runs, impl, kind, concurrency, pick)
      }))
    }))
  })
  return {
    tables,
    charts: [
      chart("Requests answered per second by one server", "requests/s", (r) => r.perSecond),
      chart("Server CPU time per request", "µs", (r) => r.serverCpuMicros)
    ],
    raw: { kadDhtVersion: version("theirs"), goKadDhtVersion: version("go"), plan, servers, runs }
  }
}

/** The request-handling suite, registered in `bench/run.ts`. */
export const requestHandlingSuite: Suite = {
  name: "request-handling",
  description:
    "FIND_NODE and GET_PROVIDERS requests/s one server (ours, @libp2p/kad-dht, go-libp2p-kad-dht) answers over loopback TCP, with its CPU and RSS",
  run
}
