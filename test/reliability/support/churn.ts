/**
 * Churn experiments, shared by the fast suite (small networks) and the
 * soak suite (1000 simulated nodes, 50 real loopback hosts): values and
 * provider records are published, a share of the nodes is killed at random
 * while readers keep working, and then lookups, values and providers are
 * checked before and after the publishers republish.
 */
import { compareDistance, kadIdOfKey, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"
import { type IpfsDHT, Values } from "@effect-kad/dht"
import { ContentRouting } from "@effect-kad/providers"
import { PeerRouting } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { type DhtHost, startDhtHost } from "./dht-hosts.js"
import { type FullServices, fullSimulation } from "./nodes.js"
import { report } from "./report.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The CID of a text. */
export const cidOfText = async (text: string): Promise<CID> =>
  CID.createV1(raw.code, await sha256.digest(encoder.encode(text)))

/** A random subset of `n` elements, and the rest. */
export const pick = <A>(items: ReadonlyArray<A>, n: number): [Array<A>, Array<A>] => {
  const shuffled = [...items]
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
  }
  return [shuffled.slice(0, n), shuffled.slice(n)]
}

const randomOf = <A>(items: ReadonlyArray<A>): A => items[Math.floor(Math.random() * items.length)]

/** Counts of the event loop's active resources by kind (timers, sockets, servers, ...). */
export const activeResources = (): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return counts
}

/** Kinds of active resources of which there are more now than in `before`, with the surplus. */
export const leakedSince = (before: Map<string, number>, after: Map<string, number>): Record<string, number> => {
  const leaked: Record<string, number> = {}
  for (const [kind, n] of after) {
    const surplus = n - (before.get(kind) ?? 0)
    if (surplus > 0) leaked[kind] = surplus
  }
  return leaked
}

/**
 * Waits until no resource kind has grown past `before` (handles close on
 * the next turns of the event loop), up to `millis`; answers what is left.
 */
export const settleResources = async (before: Map<string, number>, millis = 5_000): Promise<Record<string, number>> => {
  const deadline = Date.now() + millis
  for (;;) {
    const leaked = leakedSince(before, activeResources())
    if (Object.keys(leaked).length === 0 || Date.now() > deadline) return leaked
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Counts unhandled promise rejections while it is installed. */
export const watchUnhandledRejections = () => {
  const seen: Array<string> = []
  const listener = (reason: unknown) => {
    seen.push(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason))
  }
  process.on("unhandledRejection", listener)
  return {
    seen,
    stop: () => {
      process.off("unhandledRejection", listener)
    }
  }
}

/**
 * Runs one churn experiment while counting unhandled rejections and the
 * handles left once it ends, and reports all of it under `label`.
 */
export const watchedChurn = async (
  label: string,
  experiment: () => Promise<ChurnFigures>
): Promise<{ figures: ChurnFigures; rejections: ReadonlyArray<string>; leaked: Record<string, number> }> => {
  const before = activeResources()
  const rejections = watchUnhandledRejections()
  const figures = await experiment().finally(rejections.stop)
  const leaked = await settleResources(before)
  report(label, { ...figures, unhandledRejections: rejections.seen.length, leaked })
  return { figures, rejections: rejections.seen, leaked }
}

/** Settings of a churn experiment. */
export interface ChurnConfig {
  /** Nodes in the network. */
  readonly size: number
  /** Share of all nodes killed (0.3 for 30%). */
  readonly killFraction: number
  /** Values put and CIDs provided before the churn (each by its own publisher, who survives). */
  readonly items: number
  /** Nodes killed per wave; the churn is spread over waves while readers run. */
  readonly waves: number
  /** Survivors that run the lookups and reads afterwards. */
  readonly readers: number
}

/** What a churn experiment observed. */
export interface ChurnFigures {
  readonly nodes: number
  readonly killed: number
  readonly readsDuringChurn: number
  readonly readsFailedDuringChurn: number
  readonly lookups: number
  readonly lookupsWithDeadPeers: number
  /** Mean share of the true k closest live peers a lookup returned. */
  readonly lookupAccuracy: number
  readonly valuesFoundBeforeRepublish: number
  readonly providersFoundBeforeRepublish: number
  readonly valuesFoundAfterRepublish: number
  readonly providersFoundAfterRepublish: number
  readonly reads: number
}

type SimNode = Effect.Effect.Success<ReturnType<typeof fullSimulation>>["nodes"][number]

/** Churn in a simulated network of `size` full nodes (in-memory network, real codec, 1 s request timeout). */
export const simulatedChurn = (config: ChurnConfig) =>
  Effect.gen(function* () {
    const sim = yield* fullSimulation({
      size: config.size,
      requestTimeoutMillis: 1_000,
      network: { requestTimeoutMillis: 1_000 }
    })
    const kill = Math.floor(config.size * config.killFraction)
    const [publishers, others] = pick(sim.nodes, config.items)
    const [victims] = pick(others, kill)
    const victimIds = new Set(victims.map((n) => n.id.toString()))
    const survivors = sim.nodes.filter((n) => !victimIds.has(n.id.toString()))
    const keys = Array.from({ length: config.items }, (_, i) => encoder.encode(`/v/churn-${i}`))
    const cids = yield* Effect.promise(() => Promise.all(keys.map((_, i) => cidOfText(`churn content ${i}`))))
    const valueOfItem = (i: number) => encoder.encode(`1:churn-${i}`)
    const run = <A, E>(node: SimNode, effect: Effect.Effect<A, E, FullServices | PeerRouting>) => node.run(effect)

    for (const [i, publisher] of publishers.entries()) {
      yield* run(
        publisher,
        Effect.flatMap(Values, (v) => v.putValue(keys[i], valueOfItem(i)))
      )
      yield* run(
        publisher,
        Effect.flatMap(ContentRouting, (c) => c.provide(cids[i]))
      )
    }

    // readers keep reading while nodes die
    let reads = 0
    let readFailures = 0
    const readUntil = Date.now() + 120_000
    const reader = yield* Effect.gen(function* () {
      // bounded by count and time even if nobody interrupts it
      while (reads < 20_000 && Date.now() < readUntil) {
        const i = Math.floor(Math.random() * keys.length)
        const node = randomOf(survivors)
        const got = yield* Effect.either(
          run(
            node,
            Effect.flatMap(Values, (v) => v.getValue(keys[i]))
          )
        )
        reads++
        if (got._tag === "Left") readFailures++
        // The in-memory network answers through promises that settle at once, so a loop of reads
        // never reaches the timer phase of the event loop; a real timer between reads lets the
        // churn (and every request timeout) proceed.
        yield* Effect.sleep("2 millis")
      }
    }).pipe(Effect.fork)
    const perWave = Math.ceil(victims.length / config.waves)
    for (let w = 0; w < config.waves; w++) {
      yield* Effect.forEach(victims.slice(w * perWave, (w + 1) * perWave), (n) => sim.hub.kill(n.id), {
        discard: true
      })
      yield* Effect.sleep("300 millis")
    }
    yield* Fiber.interrupt(reader)

    const alive = new Set(sim.hub.livePeers().map(String))
    const [lookupNodes] = pick(survivors, config.readers)
    let withDead = 0
    let accuracy = 0
    for (const node of lookupNodes) {
      const key = crypto.getRandomValues(new Uint8Array(32))
      const closest = yield* run(
        node,
        Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key))
      )
      if (closest.some((p) => !alive.has(p.id.toString()))) withDead++
      accuracy += overlapWithTruth(
        closest,
        survivors.filter((n) => n !== node).map((n) => n.id),
        key
      )
    }

    const countFound = Effect.gen(function* () {
      let values = 0
      let providers = 0
      for (const [i, key] of keys.entries()) {
        const readerNode = randomOf(survivors.filter((n) => n !== publishers[i]))
        const value = yield* Effect.either(
          run(
            readerNode,
            Effect.flatMap(Values, (v) => v.getValue(key))
          )
        )
        if (value._tag === "Right" && decoder.decode(value.right) === decoder.decode(valueOfItem(i))) values++
        const found = yield* run(
          readerNode,
          Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findProviders(cids[i], { count: 1 })))
        )
        if (Chunk.toArray(found).some((p) => p.id.equals(publishers[i].id))) providers++
      }
      return { values, providers }
    })
    const before = yield* countFound
    for (const [i, publisher] of publishers.entries()) {
      yield* run(
        publisher,
        Effect.flatMap(Values, (v) => v.putValue(keys[i], valueOfItem(i)))
      )
      yield* run(
        publisher,
        Effect.flatMap(ContentRouting, (c) => c.reprovide)
      )
    }
    const after = yield* countFound
    return {
      nodes: config.size,
      killed: victims.length,
      readsDuringChurn: reads,
      readsFailedDuringChurn: readFailures,
      lookups: lookupNodes.length,
      lookupsWithDeadPeers: withDead,
      lookupAccuracy: accuracy / lookupNodes.length,
      valuesFoundBeforeRepublish: before.values,
      providersFoundBeforeRepublish: before.providers,
      valuesFoundAfterRepublish: after.values,
      providersFoundAfterRepublish: after.providers,
      reads: keys.length
    } satisfies ChurnFigures
  })

/** The share of the true `k` closest of `candidates` to `key` found in `closest`. */
const overlapWithTruth = (
  closest: ReadonlyArray<PeerInfo>,
  candidates: ReadonlyArray<PeerId>,
  key: Uint8Array,
  k = 20
): number => {
  const target = kadIdOfKey(key)
  const truth = [...candidates]
    .sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
    .slice(0, k)
    .map(String)
  const got = new Set(closest.map((p) => p.id.toString()))
  return truth.filter((id) => got.has(id)).length / truth.length
}

/**
 * Churn among real DHT nodes on loopback hosts. Killing a node stops its
 * host first (its connections drop as in a crash), then releases its DHT.
 * Every node is stopped when it returns, also on failure.
 */
export const loopbackChurn = async (config: ChurnConfig): Promise<ChurnFigures> => {
  const nodes: Array<DhtHost> = []
  try {
    nodes.push(await startDhtHost({ options: { autoRefresh: false } }))
    for (let i = 1; i < config.size; i++) {
      const [contacts] = pick(nodes, Math.min(3, nodes.length))
      nodes.push(await startDhtHost({ bootstrap: contacts.map((n) => n.host), options: { autoRefresh: false } }))
    }
    // a second refresh round so the early nodes learn the late ones
    for (const node of nodes.slice(0, 10)) await node.dht.bootstrap()

    const kill = Math.floor(config.size * config.killFraction)
    const [publishers, others] = pick(nodes, config.items)
    const [victims] = pick(others, kill)
    const survivors = nodes.filter((n) => !victims.includes(n))
    const keys = Array.from({ length: config.items }, (_, i) => `/v/loopback-churn-${i}`)
    const cids = await Promise.all(keys.map((_, i) => cidOfText(`loopback churn content ${i}`)))
    const valueOfItem = (i: number) => encoder.encode(`1:loopback-${i}`)
    for (const [i, publisher] of publishers.entries()) {
      await publisher.dht.putValue(keys[i], valueOfItem(i), { timeout: 30_000 })
      await publisher.dht.provide(cids[i], true, { timeout: 30_000 })
    }

    let reads = 0
    let readFailures = 0
    let churning = true
    const readUntil = Date.now() + 180_000
    const readerLoop = (async () => {
      while (churning && reads < 20_000 && Date.now() < readUntil) {
        const node = randomOf(survivors)
        const value = await node.dht
          .getValue(keys[Math.floor(Math.random() * keys.length)], { timeout: 15_000 })
          .catch(() => null)
        reads++
        if (value === null) readFailures++
      }
    })()
    const perWave = Math.ceil(victims.length / config.waves)
    for (let w = 0; w < config.waves; w++) {
      await Promise.all(
        victims.slice(w * perWave, (w + 1) * perWave).map(async (victim) => {
          await victim.host.stop()
          await victim.stop()
        })
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    churning = false
    await readerLoop

    const aliveIds = new Set(survivors.map((n) => n.host.peerId.toString()))
    const [lookupNodes] = pick(survivors, config.readers)
    let withDead = 0
    let accuracy = 0
    for (const node of lookupNodes) {
      const key = crypto.getRandomValues(new Uint8Array(32))
      const closest = await node.dht.getClosestPeers(key, { timeout: 30_000 })
      if (closest.some((p) => !aliveIds.has(p.id.toString()))) withDead++
      accuracy += overlapWithTruth(
        closest,
        survivors.filter((n) => n !== node).map((n) => n.host.peerId),
        key
      )
    }

    const countFound = async () => {
      let values = 0
      let providers = 0
      for (const [i, key] of keys.entries()) {
        const reader: IpfsDHT = randomOf(survivors.filter((n) => n !== publishers[i])).dht
        const value = await reader.getValue(key, { timeout: 30_000 }).catch(() => null)
        if (value !== null && decoder.decode(value) === decoder.decode(valueOfItem(i))) values++
        for await (const p of reader.findProvidersAsync(cids[i], 1, { timeout: 30_000 })) {
          if (p.id.equals(publishers[i].host.peerId)) providers++
        }
      }
      return { values, providers }
    }
    const before = await countFound()
    for (const [i, publisher] of publishers.entries()) {
      await publisher.dht.putValue(keys[i], valueOfItem(i), { timeout: 30_000 })
      await publisher.dht.provide(cids[i], true, { timeout: 30_000 })
    }
    const after = await countFound()
    return {
      nodes: config.size,
      killed: victims.length,
      readsDuringChurn: reads,
      readsFailedDuringChurn: readFailures,
      lookups: lookupNodes.length,
      lookupsWithDeadPeers: withDead,
      lookupAccuracy: accuracy / lookupNodes.length,
      valuesFoundBeforeRepublish: before.values,
      providersFoundBeforeRepublish: before.providers,
      valuesFoundAfterRepublish: after.values,
      providersFoundAfterRepublish: after.providers,
      reads: keys.length
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
}
