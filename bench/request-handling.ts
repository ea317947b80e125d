/**
 * Request-handling suite: how many FIND_NODE and GET_PROVIDERS requests per
 * second ONE server node answers over real loopback TCP (Noise, Yamux), for
 * the effect-kad DHT and @libp2p/kad-dht, with the server's CPU time per
 * request and its resident memory.
 *
 * The server runs alone in a child process (bench/support/request-server.ts),
 * so its `process.cpuUsage()` and RSS are its own; its routing table is
 * offered 200 made-up peers (so every answer carries k = 20 closer peers)
 * and its provider store holds 10 providers of the GET_PROVIDERS key. The
 * load comes from this process: a few plain libp2p client hosts, each
 * writing framed requests built with core's codec on DHT streams opened with
 * `dialProtocol`, many requests in turn on each stream (as the spec allows),
 * the next one written as soon as the previous answer arrived. Both servers
 * get exactly the same client, request bytes and schedule; each run is
 * bounded by time and by a request count.
 *
 * @module
 */
import { decodeMessage, encodeMessage, frame, type Message, MessageType } from "@effect-kad/core"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Either } from "effect"
import type { Libp2p } from "libp2p"
import { median } from "./lib/measure.js"
import type { BarChart, ResultTable, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import { FrameExchange } from "./support/frames.js"
import { type Impl, implName, OURS, PROTOCOL, startHost, stopHosts, THEIRS } from "./support/hosts.js"
import {
  CLOSER_PEERS,
  PROVIDERS,
  providerCid,
  ROUTING_TABLE_PEERS,
  type ServerInfo,
  type ServerUsage
} from "./support/request-fixture.js"
import { cpuMillis, loadNote, mebibytes, quantile } from "./support/stats.js"
import { startWorker, type Worker } from "./support/worker.js"

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
  readonly impl: Impl
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
  readonly impl: Impl
  readonly round: number
  readonly info: ServerInfo
  /** RSS and heap right after start and filling, before any load. */
  readonly idle: ServerUsage
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

const measureServer = async (
  context: SuiteContext,
  impl: Impl,
  round: number,
  clients: ReadonlyArray<Libp2p>,
  requests: Requests,
  plan: Plan
): Promise<{ record: ServerRecord; runs: Array<Run> }> => {
  const worker: Worker = await startWorker(new URL("./support/request-server.ts", import.meta.url), {
    log: (line) => context.log(`server: ${line}`)
  })
  try {
    const info = await worker.call<ServerInfo>("start", { impl })
    context.log(
      `${implName(impl)} server up (round ${round + 1}): table holds ${info.tableSize} of ${ROUTING_TABLE_PEERS} peers, ${info.providers} providers`
    )
    const idle = await worker.call<ServerUsage>("usage")
    const addresses = info.addresses.map((a) => multiaddr(a))
    await Promise.all(clients.map((client) => client.dial(addresses)))
    let peakRss = idle.rss
    const runs: Array<Run> = []
    // one warm-up run of each kind at full concurrency, so that both servers are measured with a warm JIT
    const warm = await openExchanges(clients, info, Math.max(...CONCURRENCY))
    for (const kind of KINDS) await runLoad(warm, kind, requests, plan.warmupMillis, MAX_REQUESTS_PER_RUN)
    await Promise.all(warm.map((e) => e.close()))
    for (const kind of KINDS) {
      for (const concurrency of CONCURRENCY) {
        const exchanges = await openExchanges(clients, info, concurrency)
        const before = await worker.call<ServerUsage>("usage")
        const clientBefore = process.cpuUsage()
        const load = await runLoad(exchanges, kind, requests, plan.runMillis, MAX_REQUESTS_PER_RUN)
        const clientCpu = cpuMillis(process.cpuUsage(clientBefore))
        const after = await worker.call<ServerUsage>("usage")
        await Promise.all(exchanges.map((e) => e.close()))
        peakRss = Math.max(peakRss, after.rss)
        const serverCpu = cpuMillis({
          user: after.cpu.user - before.cpu.user,
          system: after.cpu.system - before.cpu.system
        })
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
    return { record: { impl, round, info, idle, peakRss }, runs }
  } finally {
    await worker.close()
  }
}

/** The median over rounds of one statistic of the runs of one implementation, kind and concurrency. */
const medianOf = (
  runs: ReadonlyArray<Run>,
  impl: Impl,
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
  const clients = await Promise.all(Array.from({ length: CLIENT_HOSTS }, () => startHost()))
  const runs: Array<Run> = []
  const servers: Array<ServerRecord> = []
  try {
    for (let round = 0; round < plan.rounds; round++) {
      // alternate which goes first, so that neither always meets a fresher machine
      const order: Array<Impl> = round % 2 === 0 ? ["ours", "theirs"] : ["theirs", "ours"]
      for (const impl of order) {
        // a round costs about 4 runs, a warm-up and a server start per implementation
        if (round > 0 && context.remainingMillis() < 2 * (5 * plan.runMillis + 10_000)) {
          context.log(`skipping round ${round + 1}: not enough of the time budget left`)
          break
        }
        const measured = await measureServer(context, impl, round, clients, requests, plan)
        servers.push(measured.record)
        runs.push(...measured.runs)
      }
    }
  } finally {
    await stopHosts(clients)
  }

  const theirVersion = servers.find((s) => s.impl === "theirs")?.info.version ?? "?"
  const theirs = `${THEIRS} ${theirVersion}`
  const rounds = Math.max(...servers.map((s) => s.round)) + 1
  const cases = KINDS.flatMap((kind) => CONCURRENCY.map((concurrency) => ({ kind, concurrency })))
  const m = (impl: Impl, kind: Kind, concurrency: number, pick: (run: Run) => number) =>
    medianOf(runs, impl, kind, concurrency, pick)
  const totalWrong = runs.reduce((n, r) => n + r.wrong, 0)
  const totalChecked = runs.reduce((n, r) => n + r.checked, 0)
  const totalErrors = runs.reduce((n, r) => n + r.errors, 0)
  const method = [
    `server alone in a child process; load from ${CLIENT_HOSTS} client hosts in the parent, over TCP + Noise + Yamux on 127.0.0.1`,
    `streams: requests in flight at once, each stream sending its next request when the answer is in; ${plan.runMillis / 1000} s per run after a ${plan.warmupMillis / 1000} s warm-up, median of ${rounds} round(s) (order alternated)`,
    `routing table offered ${ROUTING_TABLE_PEERS} made-up peers; every answer must carry ${CLOSER_PEERS} closer peers (GET_PROVIDERS also ${PROVIDERS} providers): ${totalWrong} of ${totalChecked} checked answers were not, ${totalErrors} stream errors`
  ]
  const tables: Array<ResultTable> = [
    {
      title: "Requests answered per second by one server (higher is better)",
      columns: [
        "request",
        "streams",
        OURS,
        theirs,
        "ours / theirs",
        "p50 ms: ours",
        "p50 ms: theirs",
        "p99 ms: ours",
        "p99 ms: theirs"
      ],
      rows: cases.map(({ kind, concurrency }) => [
        kind,
        concurrency,
        m("ours", kind, concurrency, (r) => r.perSecond),
        m("theirs", kind, concurrency, (r) => r.perSecond),
        formatRatio(
          m("ours", kind, concurrency, (r) => r.perSecond) / m("theirs", kind, concurrency, (r) => r.perSecond)
        ),
        m("ours", kind, concurrency, (r) => r.latencyP50),
        m("theirs", kind, concurrency, (r) => r.latencyP50),
        m("ours", kind, concurrency, (r) => r.latencyP99),
        m("theirs", kind, concurrency, (r) => r.latencyP99)
      ]),
      notes: [...method, load]
    },
    {
      title: "Server CPU time per request (µs, lower is better) and CPU use",
      columns: [
        "request",
        "streams",
        `µs/req: ${OURS}`,
        `µs/req: ${THEIRS}`,
        "ours / theirs",
        "server CPU: ours",
        "server CPU: theirs",
        "client CPU: ours run",
        "client CPU: theirs run"
      ],
      rows: cases.map(({ kind, concurrency }) => {
        const share = (impl: Impl, pick: (run: Run) => number) =>
          `${Math.round(m(impl, kind, concurrency, pick) * 100)}%`
        return [
          kind,
          concurrency,
          m("ours", kind, concurrency, (r) => r.serverCpuMicros),
          m("theirs", kind, concurrency, (r) => r.serverCpuMicros),
          formatRatio(
            m("ours", kind, concurrency, (r) => r.serverCpuMicros) /
              m("theirs", kind, concurrency, (r) => r.serverCpuMicros)
          ),
          share("ours", (r) => r.serverCpuShare),
          share("theirs", (r) => r.serverCpuShare),
          share("ours", (r) => r.clientCpuShare),
          share("theirs", (r) => r.clientCpuShare)
        ]
      }),
      notes: [
        "µs/req: the server process's user + system CPU time (process.cpuUsage deltas) over the run, divided by the requests answered",
        "CPU: CPU time over wall time, 100% = one core busy; client = this process (all client hosts), which shares the machine's cores with the server"
      ]
    },
    {
      title: "Server memory (MiB)",
      columns: ["", "routing table peers", "providers", "RSS idle", "heap idle", "RSS peak under load"],
      rows: (["ours", "theirs"] as const).map((impl) => {
        const of = servers.filter((s) => s.impl === impl)
        return [
          impl === "ours" ? OURS : theirs,
          median(of.map((s) => s.info.tableSize)),
          median(of.map((s) => s.info.providers)),
          median(of.map((s) => mebibytes(s.idle.rss))),
          median(of.map((s) => mebibytes(s.idle.heapUsed))),
          median(of.map((s) => mebibytes(s.peakRss)))
        ]
      }),
      notes: [
        "idle: after the host started and the routing table and provider store were filled, before any request",
        "the server process holds one libp2p host (TCP, Noise, Yamux, Identify, Ping) and its DHT, nothing else"
      ]
    }
  ]
  const chart = (title: string, unit: string, pick: (run: Run) => number): BarChart => ({
    title,
    unit,
    groups: cases.map(({ kind, concurrency }) => ({
      label: `${kind} × ${concurrency}`,
      bars: (["ours", "theirs"] as const).map((impl) => ({
        series: implName(impl),
        value: m(impl, kind, concurrency, pick)
      }))
    }))
  })
  return {
    tables,
    charts: [
      chart("Requests answered per second by one server", "requests/s", (r) => r.perSecond),
      chart("Server CPU time per request", "µs", (r) => r.serverCpuMicros)
    ],
    raw: { kadDhtVersion: theirVersion, plan, servers, runs }
  }
}

/** The request-handling suite, registered in `bench/run.ts`. */
export const requestHandlingSuite: Suite = {
  name: "request-handling",
  description: "FIND_NODE and GET_PROVIDERS requests/s one server answers over loopback TCP, with its CPU and RSS",
  run
}
