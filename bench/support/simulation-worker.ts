/**
 * The simulation suite's worker: builds one simulated network with
 * `makeSimulation` (peer routing plus `layerContentRouting` on every node)
 * over the in-memory network, and measures it. Runs in a child process
 * started with `--expose-gc`, so that heap per node is read after a full
 * collection, and with heap flags sized for the network.
 *
 * Nodes join with zero link latency (building is then bounded by CPU, not
 * by simulated waiting); the latency model is switched on for everything
 * measured afterwards.
 *
 * Command: `simulate` ({@link SimulationRequest} → {@link SimulationReport}).
 *
 * @module
 */
import { getHeapStatistics } from "node:v8"
import { compareDistance, type KadId, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import { ContentRouting, layerContentRouting, ProviderStoreService } from "@effect-kad/providers"
import {
  type LookupResult,
  makeSimulation,
  NetworkSizeEstimator,
  PeerRouting,
  type SimulatedNode
} from "@effect-kad/routing"
import { Effect, Scope, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { pairDelayMillis } from "./latency.js"
import { randomIndex, seededRandom } from "./stats.js"
import { serveCommands } from "./worker.js"

/** What to build and how much to measure. */
export interface SimulationRequest {
  readonly size: number
  /** How the nodes join (`makeSimulation`'s `join`). */
  readonly join: "self-lookup" | "filled-tables"
  /** Lookups measured for hops, RPCs and success. */
  readonly lookups: number
  /** Lookups running at once (the CPU must stay ahead of the simulated clock). */
  readonly lookupConcurrency: number
  /** Rounds of one classic and one optimistic provide each. */
  readonly provideRounds: number
  /** Nodes the provides are made from. */
  readonly providers: number
  readonly seed: number
}

/** One measured lookup. */
export interface LookupSample {
  readonly millis: number
  readonly hops: number
  readonly queried: number
  readonly responded: number
  /** How many of the true k closest (brute force, origin excluded) the result held. */
  readonly correct: number
  readonly returned: number
}

/** One measured provide. */
export interface ProvideSample {
  readonly optimistic: boolean
  readonly millis: number
  /** Peers the record was delivered to when provide returned. */
  readonly delivered: number
  /** Of the true k closest to the key, how many store the record shortly after. */
  readonly holders: number
}

/** Everything the worker measured. */
export interface SimulationReport {
  readonly size: number
  readonly k: number
  readonly buildMillis: number
  /** Requests the in-memory network carried while the nodes joined. */
  readonly joinRequests: number
  /** Whether heap figures were read after a forced full GC. */
  readonly gcForced: boolean
  readonly heapBefore: number
  readonly heapAfter: number
  readonly rssBefore: number
  readonly rssAfter: number
  readonly heapLimit: number
  /** Network size estimates of the provider nodes before the provides. */
  readonly estimates: ReadonlyArray<number>
  readonly lookups: ReadonlyArray<LookupSample>
  readonly provides: ReadonlyArray<ProvideSample>
}

/** Replication parameter of the simulated nodes (simulationDefaults). */
const K = 20

/** Random lookups each provider runs before the provides, so that it has a network size estimate. */
const WARMUP_LOOKUPS = 6

/** Time left for optimistic provide's background sends before the holders are counted. */
const SETTLE_MILLIS = 1_500

type Node = SimulatedNode<ContentRouting | ProviderStoreService>

const collectGarbage = (): boolean => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return false
  gc()
  gc()
  return true
}

/** Indices of the k nodes closest to `target`, found by sorting every node. */
const trueClosest = (ids: ReadonlyArray<KadId>, target: Uint8Array, exclude: number): Set<number> => {
  const order = ids.map((_, i) => i).filter((i) => i !== exclude)
  order.sort((a, b) => compareDistance(ids[a], ids[b], target))
  return new Set(order.slice(0, K))
}

const simulate = (request: SimulationRequest) =>
  Effect.gen(function* () {
    const gcForced = collectGarbage()
    const before = process.memoryUsage()
    let latencyOn = false
    const started = performance.now()
    const sim = yield* makeSimulation(
      {
        size: request.size,
        join: request.join,
        network: { latencyMillis: (from, to) => (latencyOn ? pairDelayMillis(from, to) : 0) }
      },
      layerContentRouting({})
    )
    const buildMillis = performance.now() - started
    const joinRequests = sim.hub.stats.requests
    collectGarbage()
    const after = process.memoryUsage()
    console.log(`${request.size} nodes joined in ${(buildMillis / 1000).toFixed(1)} s (${joinRequests} requests)`)

    const nodes: ReadonlyArray<Node> = sim.nodes
    const ids = nodes.map((n) => kadIdOfPeer(n.id))
    const index = new Map(nodes.map((n, i) => [n.id.toString(), i]))
    const random = seededRandom(request.seed)

    // providers learn a network size estimate while links are still instant
    const providers = Array.from({ length: request.providers }, () => nodes[randomIndex(random, nodes.length)])
    const estimates: Array<number> = []
    for (const provider of providers) {
      const estimate = yield* provider.run(
        Effect.gen(function* () {
          const routing = yield* PeerRouting
          for (let i = 0; i < WARMUP_LOOKUPS; i++) {
            yield* routing.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)))
          }
          return yield* Effect.flatMap(NetworkSizeEstimator, (e) => e.estimate)
        }).pipe(Effect.orElseSucceed(() => Number.NaN))
      )
      estimates.push(estimate)
    }

    latencyOn = true

    const lookupOnce = (origin: number) =>
      nodes[origin].run(
        Effect.gen(function* () {
          const key = crypto.getRandomValues(new Uint8Array(32))
          const routing = yield* PeerRouting
          let result: LookupResult | undefined
          const t = performance.now()
          yield* Stream.runForEach(routing.getClosestPeersStream(key), (event) =>
            Effect.sync(() => {
              if (event._tag === "Finished") result = event.result
            })
          )
          const millis = performance.now() - t
          if (result === undefined) return yield* Effect.dieMessage("lookup ended without a Finished event")
          const expected = trueClosest(ids, kadIdOfKey(key), origin)
          let correct = 0
          for (const peer of result.closest) if (expected.has(index.get(peer.id.toString()) ?? -1)) correct++
          return {
            millis,
            hops: result.hops,
            queried: result.queried,
            responded: result.responded,
            correct,
            returned: result.closest.length
          } satisfies LookupSample
        })
      )
    const origins = Array.from({ length: request.lookups }, () => randomIndex(random, nodes.length))
    const lookups = yield* Effect.forEach(origins, lookupOnce, { concurrency: request.lookupConcurrency })
    console.log(`${request.lookups} lookups measured`)

    const provides: Array<ProvideSample> = []
    const pending: Array<{ sample: Omit<ProvideSample, "holders">; key: Uint8Array; provider: Node }> = []
    for (let round = 0; round < request.provideRounds; round++) {
      const provider = providers[round % providers.length]
      // alternate which mode goes first, so that neither gains from the other's warm connections
      const modes = round % 2 === 0 ? [false, true] : [true, false]
      for (const optimistic of modes) {
        const cid = CID.createV1(
          raw.code,
          // digest may answer synchronously or with a promise; `async` makes it a promise either way
          yield* Effect.promise(async () =>
            sha256.digest(new TextEncoder().encode(`simulation ${request.seed} ${round} ${optimistic}`))
          )
        )
        const t = performance.now()
        const delivered = yield* provider.run(Effect.flatMap(ContentRouting, (c) => c.provide(cid, { optimistic })))
        pending.push({
          sample: { optimistic, millis: performance.now() - t, delivered },
          key: cid.multihash.bytes,
          provider
        })
      }
    }
    yield* Effect.sleep(SETTLE_MILLIS)
    for (const { sample, key, provider } of pending) {
      const expected = trueClosest(ids, kadIdOfKey(key), index.get(provider.id.toString()) ?? -1)
      let holders = 0
      for (const i of expected) {
        const stored = yield* nodes[i].run(Effect.flatMap(ProviderStoreService, (s) => s.getProviders(key)))
        if (stored.some((p) => p.id.equals(provider.id))) holders++
      }
      provides.push({ ...sample, holders })
    }
    console.log(`${provides.length} provides measured`)

    return {
      size: request.size,
      k: K,
      buildMillis,
      joinRequests,
      gcForced,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapLimit: getHeapStatistics().heap_size_limit,
      estimates,
      lookups,
      provides
    } satisfies SimulationReport
  })

// The simulated network stays up until the process exits: closing tens of
// thousands of nodes one by one would only add minutes of teardown to the run.
const network = Scope.make().pipe(Effect.runSync)

serveCommands({
  simulate: (request: SimulationRequest): Promise<SimulationReport> =>
    Effect.runPromise(Scope.extend(simulate(request), network))
})
