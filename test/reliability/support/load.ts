/**
 * The load experiment, shared by the fast suite and the soak suite: one DHT
 * server on a loopback host, many client hosts each running several
 * request loops against it (FIND_NODE, GET_VALUE, PUT_VALUE, GET_PROVIDERS,
 * ADD_PROVIDER), bounded in count and in time, with the process's RSS
 * sampled throughout.
 */
import { Libp2pNetwork, type Message, MessageType, peerInfoToWire } from "@effect-kad/core"
import { Effect, Schedule } from "effect"
import { createLoopbackHost } from "../../support/hosts.js"
import { startDhtHost } from "./dht-hosts.js"
import { testProviderKeys } from "./messages.js"

const encoder = new TextEncoder()

/** Settings of {@link loadRun}. */
export interface LoadConfig {
  /** Client hosts, each its own peer with its own connection to the server. */
  readonly clients: number
  /** Concurrent request loops per client. */
  readonly workersPerClient: number
  /** Requests per loop at most. */
  readonly requestsPerWorker: number
  /** Wall-clock bound of the whole run. */
  readonly maxMillis: number
  /** Client-side deadline of one request: what "answering within its timeouts" is measured against. */
  readonly requestTimeoutMillis: number
  /** RSS sampling period. */
  readonly sampleEveryMillis: number
}

/** One RSS sample. */
export interface RssSample {
  readonly atMillis: number
  readonly rssMiB: number
  readonly heapUsedMiB: number
  readonly answered: number
}

/** What a load run measured. */
export interface LoadFigures {
  readonly peers: number
  readonly requests: number
  readonly answered: number
  readonly oneWay: number
  readonly failed: number
  readonly failures: Record<string, number>
  /** The first few failure messages. */
  readonly reasons: ReadonlyArray<string>
  readonly p50Millis: number
  readonly p99Millis: number
  readonly maxMillis: number
  readonly durationMillis: number
  readonly requestsPerSecond: number
  readonly rss: ReadonlyArray<RssSample>
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** Runs the flood; everything it started is stopped when it returns. */
export const loadRun = (config: LoadConfig): Effect.Effect<LoadFigures> =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startDhtHost()),
        (s) => Effect.promise(() => s.stop())
      )
      // a few honest peers so FIND_NODE and GET_* answers carry closer peers
      for (let i = 0; i < 3; i++) {
        yield* Effect.acquireRelease(
          Effect.promise(() => startDhtHost({ bootstrap: [server.host] })),
          (s) => Effect.promise(() => s.stop())
        )
      }
      const serverInfo = { id: server.host.peerId, multiaddrs: server.host.getMultiaddrs() }
      const clients = yield* Effect.forEach(Array.from({ length: config.clients }), () =>
        Effect.gen(function* () {
          const host = yield* Effect.acquireRelease(
            Effect.promise(() => createLoopbackHost()),
            (h) => Effect.promise(async () => h.stop())
          )
          const network = yield* Effect.orDie(
            Libp2pNetwork.make(host, { requestTimeoutMillis: config.requestTimeoutMillis })
          )
          // libp2p accepts at most 5 new connections per second from one IP (its inboundConnectionThreshold)
          // and every client here is 127.0.0.1, so the clients connect one by one before the flood
          yield* network
            .connect(serverInfo)
            .pipe(
              Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(40)))),
              Effect.orDie
            )
          return { host, network }
        })
      )

      const latencies: Array<number> = []
      const failures: Record<string, number> = {}
      const reasons: Array<string> = []
      let requests = 0
      let oneWay = 0
      const started = Date.now()
      const deadline = started + config.maxMillis
      const rss: Array<RssSample> = []
      const sample = () => {
        const usage = process.memoryUsage()
        rss.push({
          atMillis: Date.now() - started,
          rssMiB: mib(usage.rss),
          heapUsedMiB: mib(usage.heapUsed),
          answered: latencies.length
        })
      }
      sample()
      yield* Effect.acquireRelease(
        Effect.sync(() => setInterval(sample, config.sampleEveryMillis)),
        (timer) => Effect.sync(() => clearInterval(timer))
      )

      const worker = (client: (typeof clients)[number], c: number, w: number) =>
        Effect.gen(function* () {
          const self = yield* client.network.selfInfo
          for (let i = 0; i < config.requestsPerWorker && Date.now() < deadline; i++) {
            const n = (c * 7919 + w * 104729 + i) % 200
            const kind = i % 5
            if (kind === 4) {
              const announce: Message = {
                type: MessageType.ADD_PROVIDER,
                key: testProviderKeys[n % testProviderKeys.length] as Uint8Array<ArrayBuffer>,
                closerPeers: [],
                providerPeers: [peerInfoToWire(self)]
              }
              const sent = yield* Effect.either(client.network.send(server.host.peerId, announce))
              if (sent._tag === "Left") {
                failures[sent.left._tag] = (failures[sent.left._tag] ?? 0) + 1
                if (reasons.length < 10) reasons.push(sent.left.message)
              } else oneWay++
              continue
            }
            const key = encoder.encode(`/v/load-${n}`)
            const message: Message =
              kind === 0
                ? {
                    type: MessageType.FIND_NODE,
                    key: crypto.getRandomValues(new Uint8Array(32)),
                    closerPeers: [],
                    providerPeers: []
                  }
                : kind === 1
                  ? {
                      type: MessageType.PUT_VALUE,
                      key,
                      record: { key, value: encoder.encode(`${i}:${"v".repeat(100)}`) },
                      closerPeers: [],
                      providerPeers: []
                    }
                  : kind === 2
                    ? { type: MessageType.GET_VALUE, key, closerPeers: [], providerPeers: [] }
                    : {
                        type: MessageType.GET_PROVIDERS,
                        key: testProviderKeys[n % testProviderKeys.length] as Uint8Array<ArrayBuffer>,
                        closerPeers: [],
                        providerPeers: []
                      }
            requests++
            const t0 = performance.now()
            const answer = yield* Effect.either(client.network.request(server.host.peerId, message))
            if (answer._tag === "Right") latencies.push(performance.now() - t0)
            else {
              failures[answer.left._tag] = (failures[answer.left._tag] ?? 0) + 1
              if (reasons.length < 10) reasons.push(answer.left.message)
            }
          }
        })

      yield* Effect.forEach(
        clients.flatMap((client, c) => Array.from({ length: config.workersPerClient }, (_, w) => worker(client, c, w))),
        (loop) => loop,
        { concurrency: "unbounded", discard: true }
      )
      sample()
      const durationMillis = Date.now() - started
      const sorted = [...latencies].sort((a, b) => a - b)
      const failed = Object.values(failures).reduce((a, b) => a + b, 0)
      return {
        peers: config.clients,
        requests,
        answered: latencies.length,
        oneWay,
        failed,
        failures,
        reasons,
        p50Millis: Math.round(percentile(sorted, 50) * 10) / 10,
        p99Millis: Math.round(percentile(sorted, 99) * 10) / 10,
        maxMillis: Math.round((sorted.at(-1) ?? 0) * 10) / 10,
        durationMillis,
        requestsPerSecond: Math.round((latencies.length / durationMillis) * 1000),
        rss
      } satisfies LoadFigures
    })
  )

/** A short rendering of RSS samples for reports: every `step`-th sample as `t=…s rss=…MiB`. */
export const rssSeries = (samples: ReadonlyArray<RssSample>, points = 12): Array<string> => {
  const step = Math.max(1, Math.floor(samples.length / points))
  return samples
    .filter((_, i) => i % step === 0 || i === samples.length - 1)
    .map((s) => `${(s.atMillis / 1000).toFixed(1)}s:${s.rssMiB}MiB`)
}
