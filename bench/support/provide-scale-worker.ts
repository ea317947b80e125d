/**
 * The provide-scale suite's worker. Command `sweep` builds one simulated
 * network (filled tables, then the simulation suite's latency model) and,
 * for each key count, provides that many keys from one node with
 * `provideMany` (region by region), checks with random readers that the
 * keys can be found, and measures a sample of classic per-key provides for
 * comparison. Command `lone` provides keys on a node with no peers, to read
 * what holding and sweeping them costs a node's memory.
 *
 * @module
 */
import { MemoryNetworkHub } from "@effect-kad/core"
import { ContentRouting, layerContentRouting } from "@effect-kad/providers"
import { generatePeerIds, layerPeerRouting, makeSimulation, simulationDefaults } from "@effect-kad/routing"
import { Chunk, Context, Duration, Effect, Layer, Scope, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import * as Digest from "multiformats/hashes/digest"
import { sha256 } from "multiformats/hashes/sha2"
import { pairDelayMillis } from "./latency.js"
import { randomIndex, seededRandom } from "./stats.js"
import { serveCommands } from "./worker.js"

/** What the `sweep` command builds and measures. */
export interface SweepRequest {
  readonly nodes: number
  /** Key counts, smallest first; each is provided on its own (fresh keys). */
  readonly keyCounts: ReadonlyArray<number>
  /** Classic provides measured (per-key cost, then extrapolated). */
  readonly classicSample: number
  /** Random lookups by other nodes checking that provided keys are found. */
  readonly readers: number
  readonly seed: number
  /** Milliseconds this command may take; a key count predicted not to fit is skipped. */
  readonly budgetMillis: number
}

/** One key count provided with the sweep. */
export interface SweepRun {
  readonly keys: number
  readonly millis: number
  readonly regions: number
  readonly lookups: number
  /** Requests (lookup RPCs) the network carried meanwhile. */
  readonly requests: number
  /** ADD_PROVIDER messages sent. */
  readonly messages: number
  readonly delivered: number
  /** Peers sent to, summed over regions. */
  readonly peers: number
  readonly readersFound: number
  readonly readers: number
  readonly rssAfter: number
}

/** Classic provides of a sample of keys, one lookup each. */
export interface ClassicSample {
  readonly keys: number
  readonly millis: number
  readonly requests: number
  readonly messages: number
  readonly concurrency: number
}

/** Everything `sweep` measured. */
export interface SweepReport {
  readonly nodes: number
  readonly buildMillis: number
  readonly runs: ReadonlyArray<SweepRun>
  /** Key counts not run, with why. */
  readonly skipped: ReadonlyArray<{ readonly keys: number; readonly reason: string }>
  readonly classic: ClassicSample
}

/** What `lone` measured. */
export interface LoneReport {
  readonly keys: number
  readonly rssBefore: number
  readonly rssAfter: number
  readonly heapAfter: number
  readonly millis: number
}

/** Classic provides run at once, as the classic reprovider runs them. */
const CLASSIC_CONCURRENCY = 8

/** Readers looking up at once. */
const READER_CONCURRENCY = 8

const collectGarbage = () => (globalThis as { gc?: () => void }).gc?.()

const randomCids = (count: number): Array<CID> => {
  const out: Array<CID> = []
  for (let i = 0; i < count; i++) {
    out.push(CID.createV1(raw.code, Digest.create(sha256.code, crypto.getRandomValues(new Uint8Array(32)))))
  }
  return out
}

const sweep = (request: SweepRequest) =>
  Effect.gen(function* () {
    const started = performance.now()
    let latencyOn = false
    const sim = yield* makeSimulation(
      {
        size: request.nodes,
        join: "filled-tables",
        network: { latencyMillis: (from, to) => (latencyOn ? pairDelayMillis(from, to) : 0) }
      },
      layerContentRouting({ reprovideInterval: Duration.infinity, cleanupInterval: Duration.infinity })
    )
    const buildMillis = performance.now() - started
    console.log(`${request.nodes} nodes joined in ${(buildMillis / 1000).toFixed(1)} s`)
    latencyOn = true
    const random = seededRandom(request.seed)
    const nodes = sim.nodes
    const provider = nodes[randomIndex(random, nodes.length)]
    const content = provider.run(ContentRouting)

    // classic first, on keys of its own: one lookup and k ADD_PROVIDER per key
    const classicCids = randomCids(request.classicSample)
    const classicRequests = sim.hub.stats.requests
    const classicOneWay = sim.hub.stats.oneWay
    const classicStart = performance.now()
    yield* Effect.forEach(classicCids, (cid) => content.pipe(Effect.flatMap((c) => c.provide(cid))), {
      concurrency: CLASSIC_CONCURRENCY,
      discard: true
    })
    const classic: ClassicSample = {
      keys: classicCids.length,
      millis: performance.now() - classicStart,
      requests: sim.hub.stats.requests - classicRequests,
      messages: sim.hub.stats.oneWay - classicOneWay,
      concurrency: CLASSIC_CONCURRENCY
    }
    console.log(`classic: ${classic.keys} keys in ${(classic.millis / 1000).toFixed(1)} s`)

    const runs: Array<SweepRun> = []
    const skipped: Array<{ keys: number; reason: string }> = []
    for (const keys of request.keyCounts) {
      const spent = performance.now() - started
      const last = runs.at(-1)
      if (last !== undefined) {
        const predicted = (last.millis * keys) / last.keys
        if (spent + predicted > request.budgetMillis) {
          skipped.push({
            keys,
            reason: `predicted ${(predicted / 1000).toFixed(0)} s from the ${last.keys}-key run, over the time budget`
          })
          continue
        }
      }
      const cids = randomCids(keys)
      const requests = sim.hub.stats.requests
      const t = performance.now()
      const result = yield* content.pipe(
        Effect.flatMap((c) =>
          c.provideMany(cids, {
            onProgress: (p) =>
              p.regions % 25 === 0 ? Effect.sync(() => console.log(`  ${p.done}/${p.total} keys`)) : Effect.void
          })
        )
      )
      const millis = performance.now() - t
      const requestsMade = sim.hub.stats.requests - requests
      let found = 0
      yield* Effect.forEach(
        Array.from({ length: request.readers }, () => ({
          cid: cids[randomIndex(random, cids.length)],
          reader: nodes[randomIndex(random, nodes.length)]
        })),
        ({ cid, reader }) =>
          reader
            .run(
              Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findProviders(cid, { count: 1 }))).pipe(
                Effect.orElseSucceed(() => Chunk.empty())
              )
            )
            .pipe(
              Effect.tap((providers) =>
                Effect.sync(() => {
                  if (Chunk.some(providers, (p) => p.id.equals(provider.id))) found++
                })
              )
            ),
        { concurrency: READER_CONCURRENCY, discard: true }
      )
      collectGarbage()
      runs.push({
        keys,
        millis,
        regions: result.regions,
        lookups: result.lookups,
        requests: requestsMade,
        messages: result.messages,
        delivered: result.delivered,
        peers: result.peers,
        readersFound: found,
        readers: request.readers,
        rssAfter: process.memoryUsage().rss
      })
      console.log(`sweep: ${keys} keys in ${(millis / 1000).toFixed(1)} s, ${result.lookups} lookups`)
    }
    return { nodes: request.nodes, buildMillis, runs, skipped, classic } satisfies SweepReport
  })

const lone = (keys: number) =>
  Effect.gen(function* () {
    collectGarbage()
    const rssBefore = process.memoryUsage().rss
    const hub = new MemoryNetworkHub()
    const [id] = yield* generatePeerIds(1)
    const layer = layerContentRouting({ reprovideInterval: "22 hours", cleanupInterval: Duration.infinity }).pipe(
      Layer.provideMerge(layerPeerRouting({ ...simulationDefaults, emptyTableWaitMillis: 0 })),
      Layer.provideMerge(hub.layer(id))
    )
    const context = yield* Layer.build(layer)
    const t = performance.now()
    yield* Effect.flatMap(Context.get(context, ContentRouting).provideMany(randomCids(keys)), () => Effect.void)
    const millis = performance.now() - t
    collectGarbage()
    const usage = process.memoryUsage()
    return { keys, rssBefore, rssAfter: usage.rss, heapAfter: usage.heapUsed, millis } satisfies LoneReport
  })

// The networks stay up until the process exits: tearing them down only adds time.
const network = Scope.make().pipe(Effect.runSync)

serveCommands({
  sweep: (request: SweepRequest): Promise<SweepReport> => Effect.runPromise(Scope.extend(sweep(request), network)),
  lone: (request: { readonly keys: number }): Promise<LoneReport> =>
    Effect.runPromise(Scope.extend(lone(request.keys), network))
})
