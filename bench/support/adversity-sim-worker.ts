/**
 * The adversity suite's simulation worker: effect-kad alone on the
 * in-memory network (`makeSimulation`, filled tables, 20–150 ms round
 * trips), with values and content routing on every node, and a share of the
 * nodes made silent or slow with `hub.setBehaviour`. Runs in a child
 * process so its heap and event loop are its own.
 *
 * Per scenario a fresh network is built with instant links; records to
 * look for are placed (still instant); then the latency model is switched
 * on, the scenario's nodes misbehave, and the operations are measured
 * "right after". Silent scenarios then let the network notice (every live
 * node looks itself up once, then the request timeout passes, so the
 * silent peers asked have timed out and left the tables) and measure
 * again, "after noticing".
 *
 * Command: `run` ({@link SimRequest} → {@link SimReport}).
 *
 * @module
 */
import {
  compareDistance,
  type KadId,
  kadIdOfKey,
  kadIdOfPeer,
  NamespacedValidator,
  type Validator
} from "@effect-kad/core"
import { layerValues, RecordStore, Values } from "@effect-kad/dht"
import { ContentRouting, layerContentRouting, ProviderStoreService } from "@effect-kad/providers"
import {
  type LookupResult,
  makeSimulation,
  PeerRouting,
  type SimulatedNode,
  simulationDefaults
} from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { Chunk, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { pairDelayMillis } from "./latency.js"
import { randomIndex, seededRandom } from "./stats.js"
import { serveCommands } from "./worker.js"

export const SIM_OPERATIONS = ["getClosestPeers", "findProviders (first)", "getValue", "provide", "putValue"] as const
export type SimOperation = (typeof SIM_OPERATIONS)[number]

export interface SimScenario {
  readonly name: string
  readonly share: number
  readonly behaviour: "silent" | "slow"
}

export interface SimRequest {
  readonly size: number
  readonly scenarios: ReadonlyArray<SimScenario>
  /** getClosestPeers per phase. */
  readonly lookups: number
  /** Of each other operation per phase. */
  readonly writes: number
  readonly deadlineMillis: number
  readonly seed: number
  /** Wall-clock time (ms since the epoch) by which the worker must have answered. */
  readonly finishBy: number
}

export interface SimSample {
  readonly op: SimOperation
  readonly millis: number
  readonly outcome: "ok" | "failed" | "aborted"
  /** Messages the origin put on the simulated links meanwhile (see the suite's notes). */
  readonly messages: number
  /** getClosestPeers: FIND_NODE requests the lookup sent (its own count). */
  readonly queried?: number
  readonly exact?: number
  /** Size of the truth set exactness is measured against (20, or fewer live nodes). */
  readonly truth?: number
  readonly reach?: number
}

export interface SimPhase {
  readonly phase: "right after" | "after noticing"
  readonly samples: ReadonlyArray<SimSample>
  readonly millis: number
}

export interface SimScenarioResult {
  readonly scenario: SimScenario
  readonly buildMillis: number
  readonly noticeMillis?: number
  readonly phases: ReadonlyArray<SimPhase>
}

export interface SimReport {
  readonly size: number
  readonly requestTimeoutMillis: number
  readonly results: ReadonlyArray<SimScenarioResult>
  readonly skipped: ReadonlyArray<string>
}

const K = 20
const BENCH_NAMESPACE = "bench"
const permissive: Validator = { validate: () => undefined, select: () => 0 }
const SLOW_MIN_MILLIS = 2_000
const SLOW_MAX_MILLIS = 5_000
/** Self lookups running at once while the network notices. */
const NOTICE_CONCURRENCY = 25
/** Operations of a phase running at once (each from its own origin). */
const PHASE_CONCURRENCY = 6
/** Time after a write before its holders are read. */
const REACH_SETTLE_MILLIS = 300

const encoder = new TextEncoder()
const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(encoder.encode(text))))

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

type Node = SimulatedNode<ContentRouting | ProviderStoreService | Values | RecordStore>

const runScenario = (request: SimRequest, scenario: SimScenario, index: number) =>
  Effect.gen(function* () {
    const random = seededRandom(request.seed + index * 101)
    let latencyOn = false
    /** Messages each measured origin put on the links, by peer. */
    const counting = new Map<PeerId, { n: number }>()
    const started = performance.now()
    const scope = yield* Scope.make()
    const sim = yield* Scope.extend(
      makeSimulation(
        {
          size: request.size,
          join: "filled-tables",
          network: {
            latencyMillis: (from, to) => {
              const counter = counting.get(from)
              if (counter !== undefined) counter.n++
              return latencyOn ? pairDelayMillis(from, to) : 0
            }
          }
        },
        Layer.merge(
          layerValues({
            maxRecordAge: "36 hours",
            validator: new NamespacedValidator({ [BENCH_NAMESPACE]: permissive })
          }),
          layerContentRouting()
        )
      ),
      scope
    )
    const buildMillis = performance.now() - started
    const nodes: ReadonlyArray<Node> = sim.nodes
    const ids: ReadonlyArray<KadId> = nodes.map((n) => kadIdOfPeer(n.id))
    const pick = () => nodes[randomIndex(random, nodes.length)]

    // the misbehaving share, chosen now so records are placed from and looked up by nodes that answer
    const order = nodes.map((_, i) => i)
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomIndex(random, i + 1)
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    const affected = new Set(order.slice(0, Math.round(scenario.share * nodes.length)))
    const silent = scenario.behaviour === "silent" ? affected : new Set<number>()
    const normal = nodes.map((_, i) => i).filter((i) => !affected.has(i))

    /** The live nodes closest to `key`, `exclude` excepted. */
    const liveClosest = (key: Uint8Array, exclude: number): Array<number> => {
      const target = kadIdOfKey(key)
      const live = nodes.map((_, i) => i).filter((i) => i !== exclude && !silent.has(i))
      live.sort((a, b) => compareDistance(ids[a], ids[b], target))
      return live.slice(0, K)
    }

    // records to look for, placed with instant links: one per findProviders / getValue of each phase
    const phases = scenario.behaviour === "silent" ? 2 : 1
    const pool: Array<{ cid: CID; provider: number; key: Uint8Array; value: Uint8Array }> = []
    for (let i = 0; i < request.writes * phases; i++) {
      const provider = normal[randomIndex(random, normal.length)]
      const cid = yield* cidOf(`adversity sim ${request.seed} ${scenario.name} ${i}`)
      yield* nodes[provider].run(Effect.flatMap(ContentRouting, (c) => c.provide(cid)))
      const key = encoder.encode(`/${BENCH_NAMESPACE}/sim-${request.seed}-${index}-${i}`)
      const value = crypto.getRandomValues(new Uint8Array(32))
      yield* pick()
        .run(Effect.flatMap(Values, (v) => v.putValue(key, value)))
        .pipe(Effect.ignore)
      pool.push({ cid, provider, key, value })
    }

    latencyOn = true
    for (const i of affected) {
      sim.hub.setBehaviour(
        nodes[i].id,
        scenario.behaviour === "silent"
          ? { _tag: "silent" }
          : { _tag: "slow", delayMillis: SLOW_MIN_MILLIS + random() * (SLOW_MAX_MILLIS - SLOW_MIN_MILLIS) }
      )
    }

    /** Times `effect` on `origin`, under the deadline, counting the origin's messages. */
    const timed = <A>(
      origin: number,
      op: SimOperation,
      effect: Effect.Effect<A, unknown, ContentRouting | ProviderStoreService | Values | RecordStore | PeerRouting>,
      judge: (a: A) => Omit<SimSample, "op" | "millis" | "outcome" | "messages"> & { ok: boolean }
    ) =>
      Effect.gen(function* () {
        const counter = { n: 0 }
        counting.set(nodes[origin].id, counter)
        const t = performance.now()
        const exit = yield* nodes[origin]
          .run(
            effect.pipe(Effect.timeoutFail({ duration: request.deadlineMillis, onTimeout: () => "deadline" as const }))
          )
          .pipe(Effect.exit)
        const millis = performance.now() - t
        counting.delete(nodes[origin].id)
        if (Exit.isFailure(exit)) {
          const aborted =
            Option.getOrUndefined(Exit.causeOption(exit).pipe(Option.flatMap((c) => Option.some(String(c))))) ?? ""
          const isDeadline = aborted.includes("deadline") || millis >= request.deadlineMillis - 50
          return {
            op,
            millis: isDeadline ? Math.max(millis, request.deadlineMillis) : millis,
            outcome: isDeadline ? ("aborted" as const) : ("failed" as const),
            messages: counter.n
          } satisfies SimSample
        }
        const { ok, ...rest } = judge(exit.value)
        return {
          op,
          millis,
          outcome: ok ? ("ok" as const) : ("failed" as const),
          messages: counter.n,
          ...rest
        } satisfies SimSample
      })

    /** How many of the 20 live closest to `key` (origin excepted) hold what `holds` checks. */
    const reachOf = (key: Uint8Array, origin: number, holds: (node: Node) => Effect.Effect<boolean>) =>
      Effect.gen(function* () {
        yield* Effect.sleep(REACH_SETTLE_MILLIS)
        const held = yield* Effect.forEach(liveClosest(key, origin), (i) => holds(nodes[i]))
        return held.filter(Boolean).length
      })

    const measurePhase = (phase: SimPhase["phase"], records: typeof pool) =>
      Effect.gen(function* () {
        const t = performance.now()
        // distinct origins for everything that runs at once, so each origin's message count is its own
        const shuffled = [...normal]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = randomIndex(random, i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
        }
        let next = 0
        const origin = (not?: number) => {
          let o = shuffled[next++ % shuffled.length]
          if (o === not) o = shuffled[next++ % shuffled.length]
          return o
        }
        const lookups = Array.from({ length: request.lookups }, () => origin())
        const lookupEffects = lookups.map((o) => {
          const key = crypto.getRandomValues(new Uint8Array(32))
          const truth = new Set(liveClosest(key, o).map((i) => nodes[i].id.toString()))
          return timed(
            o,
            "getClosestPeers",
            Effect.flatMap(PeerRouting, (r) =>
              Stream.runFold(r.getClosestPeersStream(key), undefined as LookupResult | undefined, (acc, event) =>
                event._tag === "Finished" ? event.result : acc
              )
            ),
            (result) => ({
              ok: result !== undefined && result.closest.length > 0,
              queried: result?.queried ?? 0,
              exact: (result?.closest ?? []).filter((p) => truth.has(p.id.toString())).length,
              truth: truth.size
            })
          )
        })
        const findEffects = records.map((record) => {
          const o = origin(record.provider)
          return timed(
            o,
            "findProviders (first)",
            Effect.flatMap(ContentRouting, (c) => Stream.runCollect(Stream.take(c.findProviders(record.cid), 1))),
            (found) => ({ ok: Chunk.toReadonlyArray(found).some((p) => p.id.equals(nodes[record.provider].id)) })
          )
        })
        const getEffects = records.map((record) =>
          timed(
            origin(),
            "getValue",
            Effect.flatMap(Values, (v) => v.getValue(record.key)),
            (value) => ({ ok: sameBytes(value, record.value) })
          )
        )
        const provideEffects = records.map((_, i) => {
          const o = origin()
          return Effect.gen(function* () {
            const cid = yield* cidOf(`adversity sim provide ${request.seed} ${scenario.name} ${phase} ${i}`)
            const sample = yield* timed(
              o,
              "provide",
              Effect.flatMap(ContentRouting, (c) => c.provide(cid)),
              () => ({ ok: true })
            )
            const reach = yield* reachOf(cid.multihash.bytes, o, (node) =>
              node
                .run(
                  Effect.map(
                    Effect.flatMap(ProviderStoreService, (s) => s.getProviders(cid.multihash.bytes)),
                    (providers) => providers.some((p) => p.id.equals(nodes[o].id))
                  )
                )
                .pipe(Effect.orElseSucceed(() => false))
            )
            return { ...sample, reach }
          })
        })
        const putEffects = records.map((_, i) => {
          const o = origin()
          return Effect.gen(function* () {
            const key = encoder.encode(`/${BENCH_NAMESPACE}/sim-put-${request.seed}-${index}-${phase}-${i}`)
            const value = crypto.getRandomValues(new Uint8Array(32))
            const sample = yield* timed(
              o,
              "putValue",
              Effect.flatMap(Values, (v) => v.putValue(key, value)),
              () => ({ ok: true })
            )
            const reach = yield* reachOf(key, o, (node) =>
              node
                .run(
                  Effect.map(
                    Effect.flatMap(RecordStore, (s) => s.get(key)),
                    (record) => Option.isSome(record) && sameBytes(record.value.value, value)
                  )
                )
                .pipe(Effect.orElseSucceed(() => false))
            )
            return { ...sample, reach }
          })
        })
        const samples = yield* Effect.all(
          [...lookupEffects, ...findEffects, ...getEffects, ...provideEffects, ...putEffects],
          { concurrency: PHASE_CONCURRENCY }
        )
        return { phase, samples, millis: performance.now() - t } satisfies SimPhase
      })

    const measured: Array<SimPhase> = []
    measured.push(yield* measurePhase("right after", pool.slice(0, request.writes)))
    console.log(`${scenario.name}: right after, measured`)
    let noticeMillis: number | undefined
    if (scenario.behaviour === "silent") {
      const t = performance.now()
      // the network notices: each live node looks itself up, then the request timeout passes
      yield* Effect.forEach(
        nodes.filter((_, i) => !silent.has(i)),
        (node) =>
          node
            .run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(node.id.toMultihash().bytes)))
            .pipe(Effect.ignore),
        { concurrency: NOTICE_CONCURRENCY, discard: true }
      )
      yield* Effect.sleep(simulationDefaults.requestTimeoutMillis + 500)
      noticeMillis = performance.now() - t
      measured.push(yield* measurePhase("after noticing", pool.slice(request.writes)))
      console.log(`${scenario.name}: after noticing, measured`)
    }
    latencyOn = false
    yield* Scope.close(scope, Exit.void)
    return { scenario, buildMillis, noticeMillis, phases: measured } satisfies SimScenarioResult
  })

const run = (request: SimRequest) =>
  Effect.gen(function* () {
    const results: Array<SimScenarioResult> = []
    const skipped: Array<string> = []
    for (const [index, scenario] of request.scenarios.entries()) {
      // predicted from the last scenario of the same kind (a silent one measures twice and waits for the timeout)
      const last = results.findLast((r) => r.scenario.behaviour === scenario.behaviour)
      const guess = scenario.behaviour === "silent" ? 45_000 : 20_000
      const cost =
        last === undefined
          ? guess
          : last.buildMillis + last.phases.reduce((s, p) => s + p.millis, 0) + (last.noticeMillis ?? 0) + 3_000
      if (Date.now() + cost * 1.1 > request.finishBy) {
        skipped.push(
          `${scenario.name} (predicted ${Math.round(cost / 1000)} s, ${Math.round((request.finishBy - Date.now()) / 1000)} s left)`
        )
        continue
      }
      console.log(`${scenario.name}: building ${request.size} nodes`)
      results.push(yield* runScenario(request, scenario, index))
    }
    return {
      size: request.size,
      requestTimeoutMillis: simulationDefaults.requestTimeoutMillis,
      results,
      skipped
    } satisfies SimReport
  })

serveCommands({
  run: (request: SimRequest): Promise<SimReport> => Effect.runPromise(run(request))
})
