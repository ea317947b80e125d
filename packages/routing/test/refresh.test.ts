import { describe, expect, it } from "@effect/vitest"
import { commonPrefixLength, InvalidOptionError, kadIdOfPeer, Network, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { Context, Effect, Fiber, Layer, Option, type Scope, Stream, TestClock } from "effect"
import {
  generatePeerIds,
  layerPeerRouting,
  makeSimulation,
  PeerRouting,
  type PeerRoutingShape,
  type RefreshConfig,
  RefreshManager,
  type RefreshManagerShape,
  type RefreshStatus,
  RoutingTable,
  type SimulatedServices,
  type Simulation,
  simulationDefaults
} from "../src/index.js"

type Node = Context.Context<SimulatedServices | RefreshManager>

/** Adds a refresh manager to a simulated node, optionally wrapping its peer routing. */
const withRefresh = (
  base: Context.Context<SimulatedServices>,
  config: RefreshConfig,
  wrap?: (routing: PeerRoutingShape) => PeerRoutingShape
): Effect.Effect<Node, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const context = wrap === undefined ? base : Context.add(base, PeerRouting, wrap(Context.get(base, PeerRouting)))
    const refresh = yield* Layer.build(RefreshManager.layer(config)).pipe(Effect.provide(context))
    return Context.merge(context, refresh)
  })

/** A node that is not part of the simulation yet: attached to its hub, with an empty routing table. */
const newcomer = <R>(sim: Simulation<R>, config: RefreshConfig) =>
  Effect.gen(function* () {
    const [id] = yield* generatePeerIds(1)
    const base = yield* Layer.build(layerPeerRouting(simulationDefaults).pipe(Layer.provideMerge(sim.hub.layer(id))))
    return { id, context: yield* withRefresh(base, config) }
  })

const infoOf = <R>(sim: Simulation<R>, index: number): Effect.Effect<PeerInfo> =>
  sim.nodes[index].run(Effect.flatMap(Network, (n) => n.selfInfo))

const manager = (node: Node): RefreshManagerShape => Context.get(node, RefreshManager)
const tableOf = (node: Node) => Context.get(node, RoutingTable)

/** Waits, without polling, until the manager's status satisfies `p`. */
const awaitStatus = (node: Node, p: (s: RefreshStatus) => boolean): Effect.Effect<RefreshStatus> =>
  manager(node).statusChanges.pipe(Stream.filter(p), Stream.runHead, Effect.map(Option.getOrThrow))

/** Lets background fibers run without moving the test clock. */
const settle = Effect.repeatN(Effect.yieldNow(), 200)

const ids = (peers: ReadonlyArray<PeerId>) => peers.map(String).sort()

describe("RefreshManager schedule", () => {
  it.scoped("refreshes at start, then once per interval counted from the end of the previous refresh", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 40 })
      const node = yield* withRefresh(sim.nodes[0].context, { refreshIntervalMillis: 60_000 })
      const first = yield* awaitStatus(node, (s) => s.completed >= 1)
      const start = Option.getOrThrow(first.lastRefresh)
      expect(start.forced).toBe(true)
      expect(start.self).toBe("completed")
      expect(start.buckets.length).toBeGreaterThan(0)
      expect(start.buckets.every((b) => b.outcome === "completed")).toBe(true)
      expect(first.periodicIntervalMillis).toEqual(Option.some(60_000))

      yield* TestClock.adjust(59_000)
      yield* settle
      expect((yield* manager(node).status).completed).toBe(1)

      yield* TestClock.adjust(1_000)
      const second = Option.getOrThrow((yield* awaitStatus(node, (s) => s.completed >= 2)).lastRefresh)
      expect(second.forced).toBe(false)
      // a full period passed since each bucket's refresh, so none is skipped
      expect(second.buckets.length).toBeGreaterThan(0)
      expect(second.buckets.every((b) => b.outcome === "completed")).toBe(true)

      yield* TestClock.adjust(60_000)
      yield* awaitStatus(node, (s) => s.completed >= 3)
    })
  )

  it.scoped("an unforced refresh skips buckets refreshed within the interval; a forced one does not", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 40 })
      const node = yield* withRefresh(sim.nodes[0].context, { autoRefresh: false })
      const refresh = manager(node)
      const forced = yield* refresh.refresh({ force: true })
      const cpls = forced.buckets.map((b) => b.cpl)
      expect(forced.buckets.every((b) => b.outcome === "completed")).toBe(true)
      const buckets = yield* tableOf(node).buckets
      for (const cpl of cpls) expect(buckets[cpl].lastRefreshedAt).toBeDefined()

      yield* TestClock.adjust(5 * 60_000)
      const unforced = yield* refresh.refresh()
      expect(unforced.buckets.map((b) => b.cpl)).toEqual(cpls)
      expect(unforced.buckets.every((b) => b.outcome === "skipped")).toBe(true)
      // the self-lookup always runs
      expect(unforced.self).toBe("completed")

      const again = yield* refresh.refresh({ force: true })
      expect(again.buckets.every((b) => b.outcome === "completed")).toBe(true)

      yield* TestClock.adjust(10 * 60_000)
      const due = yield* refresh.refresh()
      expect(due.buckets.every((b) => b.outcome === "completed")).toBe(true)
    })
  )

  it.scoped("with auto refresh off nothing runs by itself, but a forced refresh works", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 40 })
      const node = yield* withRefresh(sim.nodes[0].context, { autoRefresh: false })
      yield* settle
      yield* TestClock.adjust(3 * 60 * 60_000)
      yield* settle
      const idle = yield* manager(node).status
      expect(idle.completed).toBe(0)
      expect(idle.lowPeersFixes).toBe(0)
      expect(idle.periodicIntervalMillis).toEqual(Option.none())

      const report = yield* manager(node).refresh({ force: true })
      expect(report.self).toBe("completed")
      expect(report.buckets.length).toBeGreaterThan(0)
      expect((yield* manager(node).status).completed).toBe(1)
    })
  )

  it.scoped("a failing lookup is logged and recorded; the periodic loop carries on", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 30 })
      let broken = true
      const node = yield* withRefresh(sim.nodes[0].context, { refreshIntervalMillis: 60_000 }, (routing) => ({
        ...routing,
        getClosestPeers: (key) => (broken ? Effect.dieMessage("lookup exploded") : routing.getClosestPeers(key))
      }))
      const first = Option.getOrThrow((yield* awaitStatus(node, (s) => s.completed >= 1)).lastRefresh)
      expect(first.self).toBe("failed")
      expect(first.buckets.length).toBeGreaterThan(0)
      expect(first.buckets.every((b) => b.outcome === "failed")).toBe(true)
      // a failed lookup does not count as a refresh of its bucket
      for (const b of yield* tableOf(node).buckets) expect(b.lastRefreshedAt).toBeUndefined()

      broken = false
      yield* TestClock.adjust(60_000)
      const second = Option.getOrThrow((yield* awaitStatus(node, (s) => s.completed >= 2)).lastRefresh)
      expect(second.self).toBe("completed")
      expect(second.buckets.every((b) => b.outcome === "completed")).toBe(true)
    })
  )

  it.scoped("each lookup is cut off at the query timeout and a timed-out bucket stays due", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 30 })
      let hang = true
      const node = yield* withRefresh(
        sim.nodes[0].context,
        { autoRefresh: false, refreshQueryTimeoutMillis: 5_000 },
        (routing) => ({
          ...routing,
          getClosestPeers: (key) => (hang ? Effect.never : routing.getClosestPeers(key))
        })
      )
      const fiber = yield* Effect.fork(manager(node).refresh({ force: true }))
      let steps = 0
      while ((yield* Fiber.poll(fiber))._tag === "None") {
        yield* TestClock.adjust(5_000)
        yield* settle
        steps++
        expect(steps).toBeLessThan(40)
      }
      const report = yield* Fiber.join(fiber)
      expect(report.self).toBe("timed-out")
      expect(report.buckets.length).toBeGreaterThan(0)
      expect(report.buckets.every((b) => b.outcome === "timed-out")).toBe(true)
      // one timeout per lookup, one after the other
      expect(report.finishedAt.getTime() - report.startedAt.getTime()).toBe(5_000 * (1 + report.buckets.length))

      hang = false
      const next = yield* manager(node).refresh()
      expect(next.buckets.every((b) => b.outcome === "completed")).toBe(true)
    })
  )

  it.live(
    "concurrent refresh calls run one after the other",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 30 })
        let inFlight = 0
        let maxInFlight = 0
        const node = yield* withRefresh(sim.nodes[0].context, { autoRefresh: false }, (routing) => ({
          ...routing,
          getClosestPeers: (key) =>
            Effect.acquireUseRelease(
              Effect.sync(() => {
                inFlight++
                maxInFlight = Math.max(maxInFlight, inFlight)
              }),
              () => Effect.zipRight(Effect.sleep(2), routing.getClosestPeers(key)),
              () => Effect.sync(() => inFlight--)
            )
        }))
        const reports = yield* Effect.all(
          Array.from({ length: 4 }, () => manager(node).refresh({ force: true })),
          { concurrency: "unbounded" }
        )
        expect(maxInFlight).toBe(1)
        const ordered = [...reports].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime())
        for (let i = 1; i < ordered.length; i++) {
          expect(ordered[i].startedAt.getTime()).toBeGreaterThanOrEqual(ordered[i - 1].finishedAt.getTime())
        }
        expect((yield* manager(node).status).completed).toBe(4)
      }).pipe(Effect.scoped),
    60_000
  )

  it.scoped("refuses invalid settings", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 2 })
      const cases: Array<[RefreshConfig, string]> = [
        [{ refreshIntervalMillis: 0 }, "refreshIntervalMillis"],
        [{ refreshQueryTimeoutMillis: Number.NaN }, "refreshQueryTimeoutMillis"],
        [{ lowPeersThreshold: -1 }, "lowPeersThreshold"],
        [{ lowPeersBootstrapDials: 0 }, "lowPeersBootstrapDials"],
        [{ lowPeersMinGapMillis: -5 }, "lowPeersMinGapMillis"],
        [{ livenessCheckConcurrency: 1.5 }, "livenessCheckConcurrency"]
      ]
      for (const [config, field] of cases) {
        const error = yield* Effect.flip(withRefresh(sim.nodes[0].context, config))
        expect(error).toBeInstanceOf(InvalidOptionError)
        expect(error.field).toBe(field)
      }
    })
  )
})

describe("RefreshManager table maintenance", () => {
  it.scoped("liveness checks evict stale peers that are dead and keep the live ones", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 60 })
      const node = yield* withRefresh(sim.nodes[0].context, { autoRefresh: false })
      const table = tableOf(node)

      // within the ≈43 min threshold nobody is checked
      yield* TestClock.adjust(30 * 60_000)
      const early = yield* manager(node).refresh()
      expect(early.checked).toBe(0)
      expect(early.evicted).toEqual([])

      const peers = (yield* table.listPeers).map((p) => p.id)
      expect(peers.length).toBeGreaterThan(10)
      const dead = peers.filter((_, i) => i % 4 === 0)
      const live = peers.filter((_, i) => i % 4 !== 0)
      for (const id of dead) yield* sim.hub.kill(id)

      // 45 min after the last contact with any of them, every peer is checked before any lookup runs
      yield* TestClock.adjust(45 * 60_000)
      const report = yield* manager(node).refresh()
      expect(report.checked).toBe(peers.length)
      expect(ids(report.evicted)).toEqual(ids(dead))
      const now = yield* TestClock.currentTimeMillis
      for (const id of dead) expect(Option.isNone(yield* table.find(id))).toBe(true)
      for (const id of live) {
        const entry = Option.getOrThrow(yield* table.find(id))
        // the passed check counts as a contact, so the peer is not checked again next time
        expect(entry.lastSuccessfulOutboundQueryAt.getTime()).toBe(now)
      }
    })
  )

  it.scoped("the bucket refresh fills the table of a node that joined through one contact", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 100 })
      const contact = yield* infoOf(sim, 0)
      const x = yield* newcomer(sim, { autoRefresh: false, bootstrapPeers: [contact] })
      const table = tableOf(x.context)

      const joined = yield* manager(x.context).bootstrap({ quickConnectOnly: true })
      expect(ids(joined.connected)).toEqual(ids([contact.id]))
      expect(Option.isNone(joined.refresh)).toBe(true)
      expect(yield* table.size).toBe(1)

      // a self-lookup alone fills the buckets near us...
      yield* Effect.provide(
        Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(x.id.toMultihash().bytes)),
        x.context
      )
      const afterSelf = yield* table.size

      // ...the bucket refresh fills the far ones
      const report = yield* manager(x.context).refresh({ force: true })
      expect(report.sizeBefore).toBe(afterSelf)
      expect(report.sizeAfter).toBeGreaterThan(afterSelf)
      const local = kadIdOfPeer(x.id)
      for (let cpl = 0; cpl < 3; cpl++) {
        const available = sim.servers.filter((s) => commonPrefixLength(kadIdOfPeer(s.id), local) === cpl).length
        expect(yield* table.peerCountForCpl(cpl)).toBe(Math.min(table.bucketSize, available))
      }
    })
  )

  it.scoped("the low-peer fix re-dials the bootstrap peers after the table emptied", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 60 })
      const bootstrapPeers = [yield* infoOf(sim, 0), yield* infoOf(sim, 1)]
      const x = yield* newcomer(sim, { bootstrapPeers })
      const table = tableOf(x.context)
      const network = Context.get(x.context, Network)

      // at start the empty table is fixed from the bootstrap peers, then refreshed
      const started = yield* awaitStatus(x.context, (s) => s.completed >= 1 && s.lowPeersFixes >= 1)
      const firstFix = Option.getOrThrow(started.lastLowPeersFix)
      expect(firstFix.sizeBefore).toBe(0)
      expect(ids(firstFix.bootstrapConnected)).toEqual(ids(bootstrapPeers.map((p) => p.id)))
      expect(yield* table.size).toBeGreaterThan(10)

      // lose every connection and every routing table entry
      yield* sim.hub.kill(x.id)
      sim.hub.revive(x.id)
      for (const peer of yield* table.listPeers) yield* table.remove(peer.id)
      expect(yield* table.size).toBe(0)
      expect(yield* network.isConnected(bootstrapPeers[0].id)).toBe(false)

      // the fix waits out its minimum gap since the start-up fix, then re-dials
      yield* settle
      expect((yield* manager(x.context).status).lowPeersFixes).toBe(1)
      yield* TestClock.adjust(60_000)
      const fixed = yield* awaitStatus(x.context, (s) => s.lowPeersFixes >= 2 && s.completed >= 2)
      const secondFix = Option.getOrThrow(fixed.lastLowPeersFix)
      expect(secondFix.sizeBefore).toBe(0)
      expect(secondFix.addedFromConnections).toBe(0)
      expect(ids(secondFix.bootstrapConnected)).toEqual(ids(bootstrapPeers.map((p) => p.id)))
      for (const peer of bootstrapPeers) expect(yield* network.isConnected(peer.id)).toBe(true)
      // the refresh that follows a fix of an empty table is forced and refills it
      expect(Option.getOrThrow(fixed.lastRefresh).forced).toBe(true)
      expect(yield* table.size).toBeGreaterThan(10)
    })
  )

  it.scoped("the low-peer fix first takes peers from live connections, and leaves a healthy table alone", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 40 })
      const node = yield* withRefresh(sim.nodes[0].context, { lowPeersMinGapMillis: 0 })
      yield* awaitStatus(node, (s) => s.completed >= 1)
      const table = tableOf(node)
      // a healthy table: the start-up check found nothing to fix
      expect((yield* manager(node).status).lowPeersFixes).toBe(0)

      // dropping below the threshold triggers the fix, which re-adds the connected servers
      const connected = yield* Context.get(node, Network).connectedServers
      expect(connected.length).toBeGreaterThan(10)
      for (const peer of yield* table.listPeers) yield* table.remove(peer.id)
      const fixed = yield* awaitStatus(node, (s) => s.lowPeersFixes >= 1)
      const report = Option.getOrThrow(fixed.lastLowPeersFix)
      expect(report.sizeBefore).toBeLessThanOrEqual(10)
      expect(report.addedFromConnections).toBeGreaterThan(0)
      expect(report.bootstrapConnected).toEqual([])
      yield* settle
      expect(yield* table.size).toBeGreaterThan(10)
    })
  )

  it.scoped("bootstrap connects and adds the bootstrap peers, reports the unreachable, and restarts the period", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 40 })
      const reachable = yield* infoOf(sim, 3)
      const [strangerId] = yield* generatePeerIds(1)
      const stranger: PeerInfo = { id: strangerId, multiaddrs: [] }
      const x = yield* newcomer(sim, { autoRefresh: false, bootstrapPeers: [reachable, stranger] })
      const refresh = manager(x.context)
      const table = tableOf(x.context)

      const quick = yield* refresh.bootstrap({ quickConnectOnly: true })
      expect(ids(quick.connected)).toEqual(ids([reachable.id]))
      expect(ids(quick.failed.map((f) => f.peer))).toEqual(ids([strangerId]))
      expect(quick.failed[0].error._tag).toBe("TransientNetworkError")
      expect(Option.isSome(yield* table.find(reachable.id))).toBe(true)
      expect((yield* refresh.status).completed).toBe(0)

      const full = yield* refresh.bootstrap({ periodicRefreshInterval: "5 minutes" })
      const fullRefresh = Option.getOrThrow(full.refresh)
      expect(fullRefresh.forced).toBe(true)
      expect(fullRefresh.sizeAfter).toBeGreaterThan(10)
      const status = yield* refresh.status
      expect(status.completed).toBe(1)
      expect(status.periodicIntervalMillis).toEqual(Option.some(300_000))

      yield* TestClock.adjust(5 * 60_000)
      const periodic = Option.getOrThrow((yield* awaitStatus(x.context, (s) => s.completed >= 2)).lastRefresh)
      expect(periodic.forced).toBe(false)
      // a period after the bootstrap refresh, every bucket is due again
      expect(periodic.buckets.every((b) => b.outcome === "completed")).toBe(true)
    })
  )
})
