import { describe, expect, it } from "@effect/vitest"
import {
  compareDistance,
  kadIdOfKey,
  kadIdOfPeer,
  MaxRetriesExceededException,
  MemoryNetworkHub,
  MessageType,
  type PeerInfo
} from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Chunk, Effect, Exit, Fiber, Option, Scope, Stream, TestClock } from "effect"
import { makeSimulation, PeerRouting } from "../src/index.js"
import { ResponseTimes } from "../src/lookup/deadline.js"
import { type QueryOutcome, runLookup } from "../src/lookup/lookup.js"

const newPeerIds = (n: number) =>
  Effect.promise(async () => {
    const ids: Array<PeerId> = []
    for (let i = 0; i < n; i++) ids.push(peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
    return ids
  })

const info = (id: PeerId): PeerInfo => ({ id, multiaddrs: [] })

/** A scripted peer: answers after `delay` ms with `closer`, or never. */
interface Script {
  readonly delay: number | "never"
  readonly closer?: ReadonlyArray<PeerId>
}

const scriptedQuery =
  (scripts: Map<string, Script>, asked: Array<string>) =>
  (peer: PeerInfo, progress: { sent: () => void }): Effect.Effect<QueryOutcome<never>> =>
    Effect.gen(function* () {
      asked.push(peer.id.toString())
      progress.sent()
      const script = scripts.get(peer.id.toString()) ?? { delay: 10 }
      if (script.delay === "never") return yield* Effect.never
      yield* Effect.sleep(script.delay)
      return { closer: (script.closer ?? []).map(info) }
    })

/** Runs `lookup` under the TestClock, 10 ms at a time, and answers the virtual time it took. */
const timed = <A>(lookup: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(lookup)
    for (let elapsed = 0; elapsed <= 60_000; elapsed += 10) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return { result: yield* Fiber.join(fiber), millis: elapsed }
      yield* TestClock.adjust(10)
    }
    return yield* Effect.dieMessage("lookup did not end within 60 virtual seconds")
  })

describe("lookup deadlines", () => {
  it.effect("a silent peer among the closest delays a lookup no longer than its deadline", () =>
    Effect.gen(function* () {
      const [self, ...peers] = yield* newPeerIds(12)
      const target = kadIdOfKey(new TextEncoder().encode("target"))
      const scripts = new Map<string, Script>()
      // every peer answers in 10 ms except one: silent, as many public peers are
      const silent = peers[0]
      scripts.set(silent.toString(), { delay: "never" })
      const asked: Array<string> = []
      const { result, millis } = yield* timed(
        runLookup({
          target,
          seeds: peers.map(info),
          self,
          k: 20,
          alpha: 3,
          beta: 3,
          query: scriptedQuery(scripts, asked),
          deadline: () => ({ dialMillis: 1_000, responseMillis: () => 300 })
        })
      )
      expect(result.closest.map((p) => p.id.toString())).not.toContain(silent.toString())
      expect(result.closest).toHaveLength(10)
      expect(result.overdue).toBe(1)
      // asked once: no retry of a request that timed out inside a lookup
      expect(asked.filter((id) => id === silent.toString())).toHaveLength(1)
      // the other 10 peers take 4 rounds of 10 ms at alpha 3; the silent one costs at most its deadline
      expect(millis).toBeLessThanOrEqual(300 + 50)
    })
  )

  it.effect("without deadlines the same silent peer holds the lookup until its request ends", () =>
    Effect.gen(function* () {
      const [self, ...peers] = yield* newPeerIds(6)
      const scripts = new Map<string, Script>([[peers[0].toString(), { delay: 5_000 }]])
      const { millis } = yield* timed(
        runLookup({
          target: kadIdOfKey(new Uint8Array([1])),
          seeds: peers.map(info),
          self,
          k: 20,
          alpha: 3,
          beta: 3,
          query: scriptedQuery(scripts, [])
        })
      )
      expect(millis).toBeGreaterThanOrEqual(5_000)
    })
  )

  it.effect("a late answer still counts: a peer past its deadline that answers brings its closer peers", () =>
    Effect.gen(function* () {
      const [self, slow, referred] = yield* newPeerIds(3)
      const scripts = new Map<string, Script>([
        [slow.toString(), { delay: 800, closer: [referred] }],
        [referred.toString(), { delay: 10 }]
      ])
      const { result, millis } = yield* timed(
        runLookup({
          target: kadIdOfKey(new Uint8Array([2])),
          seeds: [info(slow)],
          self,
          k: 20,
          alpha: 3,
          beta: 3,
          query: scriptedQuery(scripts, []),
          deadline: () => ({ dialMillis: 1_000, responseMillis: () => 300 })
        })
      )
      expect(result.closest.map((p) => p.id.toString()).sort()).toEqual([slow.toString(), referred.toString()].sort())
      expect(result.overdue).toBe(1)
      expect(millis).toBeGreaterThanOrEqual(800)
    })
  )

  it.effect(
    "the dial has its own deadline: a request never sent is overdue after it, not after the response deadline",
    () =>
      Effect.gen(function* () {
        const [self, dialing, other] = yield* newPeerIds(3)
        const { result, millis } = yield* timed(
          runLookup({
            target: kadIdOfKey(new Uint8Array([3])),
            seeds: [info(dialing), info(other)],
            self,
            k: 20,
            alpha: 3,
            beta: 3,
            // `dialing` never gets its stream open, so it never reports the request sent
            query: (peer, progress) =>
              peer.id.equals(dialing)
                ? Effect.never
                : Effect.zipRight(
                    Effect.sync(() => progress.sent()),
                    Effect.as(Effect.sleep(10), { closer: [] })
                  ),
            deadline: () => ({ dialMillis: 700, responseMillis: () => 100 })
          })
        )
        expect(result.closest.map((p) => p.id.toString())).toEqual([other.toString()])
        expect(millis).toBeGreaterThanOrEqual(700)
        expect(millis).toBeLessThanOrEqual(750)
      })
  )
})

describe("suspects: queries slower than most", () => {
  /**
   * k 4 over 8 seeds; the two closest and the fifth are silent. Waiting for
   * deadlines alone, the fifth comes into reach at the first deadline and the
   * seventh at the second: the lookup pays its deadline twice in a row.
   */
  const chainOfSilentPeers = (suspectMillis: number | undefined) =>
    Effect.gen(function* () {
      const [self, ...peers] = yield* newPeerIds(8)
      const target = kadIdOfKey(new TextEncoder().encode("suspects"))
      const byDistance = [...peers].sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
      const silent = [byDistance[0], byDistance[1], byDistance[4]]
      const scripts = new Map<string, Script>(silent.map((id) => [id.toString(), { delay: "never" }]))
      const { result, millis } = yield* timed(
        runLookup({
          target,
          seeds: peers.map(info),
          self,
          k: 4,
          alpha: 10,
          beta: 3,
          query: scriptedQuery(scripts, []),
          deadline: () => ({
            dialMillis: 1_000,
            responseMillis: () => 300,
            ...(suspectMillis === undefined ? {} : { suspectMillis: () => suspectMillis })
          })
        })
      )
      const found = result.closest.map((p) => p.id.toString())
      return { found, millis, live: [2, 3, 5, 6].map((i) => byDistance[i].toString()), silent }
    })

  it.effect("a suspect brings the next candidate into reach at once: silent peers cost one deadline, not a chain", () =>
    Effect.gen(function* () {
      const { found, millis, live, silent } = yield* chainOfSilentPeers(50)
      expect(found).toEqual(live)
      for (const id of silent) expect(found).not.toContain(id.toString())
      // termination still waits for the suspects until their deadline: 300 ms after they were asked, 350 for the fifth
      expect(millis).toBeGreaterThanOrEqual(300)
      expect(millis).toBeLessThanOrEqual(400)
    })
  )

  it.effect("without suspects the same lookup pays the deadline once per silent peer in the chain", () =>
    Effect.gen(function* () {
      const { found, millis, live } = yield* chainOfSilentPeers(undefined)
      expect(found).toEqual(live)
      expect(millis).toBeGreaterThanOrEqual(600)
    })
  )
})

describe("lookups whose overdue queries linger", () => {
  it.effect(
    "interrupting a lookup stops its queries still within their deadline; overdue ones finish and are reported",
    () =>
      Effect.gen(function* () {
        const [self, silent, slowA, slowB, dialing] = yield* newPeerIds(5)
        const outer = yield* Scope.make()
        const active = new Set<string>()
        const afterEnd: Array<string> = []
        const fiber = yield* Effect.fork(
          runLookup({
            target: kadIdOfKey(new Uint8Array([4])),
            seeds: [info(silent), info(slowA), info(slowB), info(dialing)],
            self,
            k: 20,
            alpha: 4,
            beta: 3,
            query: (peer, progress) =>
              Effect.gen(function* () {
                active.add(peer.id.toString())
                // `dialing` never gets its stream open: still within its 1 s dial deadline at the interruption
                if (!peer.id.equals(dialing)) progress.sent()
                yield* Effect.sleep(peer.id.equals(silent) ? 1_000 : 10_000)
                return { closer: [] }
              }).pipe(Effect.ensuring(Effect.sync(() => active.delete(peer.id.toString())))),
            deadline: () => ({ dialMillis: 1_000, responseMillis: () => 300 }),
            linger: {
              scope: outer,
              afterEnd: (event) =>
                Effect.sync(() => {
                  afterEnd.push(`${event._tag} ${event._tag === "PeerResponded" ? event.peer.toString() : ""}`)
                })
            }
          })
        )
        const settle = Effect.repeatN(Effect.yieldNow(), 20)
        yield* TestClock.adjust(100)
        expect(active.size).toBe(4)
        // three queries are overdue after 300 ms; nobody answered, so the lookup still waits
        yield* TestClock.adjust(400)
        yield* Fiber.interrupt(fiber)
        yield* settle
        expect([...active].sort()).toEqual([silent, slowA, slowB].map(String).sort())
        // the overdue ones run on in the outer scope; the first to end is reported
        yield* TestClock.adjust(1_000)
        yield* settle
        expect([...active].sort()).toEqual([slowA, slowB].map(String).sort())
        expect(afterEnd).toEqual([`PeerResponded ${silent.toString()}`])
        yield* Scope.close(outer, Exit.void)
        expect(active.size).toBe(0)
      })
  )
})

describe("ResponseTimes", () => {
  it("starts from the initial deadline, then follows p90 × 1.5 of recent answers within the floor and ceiling", () => {
    const times = new ResponseTimes({ floorMillis: 500, ceilingMillis: 5_000, dialMillis: 5_000 })
    expect(times.deadlineMillis()).toBe(1_000)
    for (let i = 0; i < 100; i++) times.record(10)
    expect(times.deadlineMillis()).toBe(500)
    for (let i = 0; i < 64; i++) times.record(i < 52 ? 400 : 1_200)
    // p90 of the last 64 samples: 1 200 ms (the 12 slow answers are the top 19 %)
    expect(times.deadlineMillis()).toBe(1_800)
    for (let i = 0; i < 64; i++) times.record(i < 58 ? 100 : 1_200)
    // six slow answers of 64 are under the top 10 %: p90 is 100 ms, the floor applies
    expect(times.deadlineMillis()).toBe(500)
    for (let i = 0; i < 64; i++) times.record(9_000)
    expect(times.deadlineMillis()).toBe(5_000)
  })

  it("makes a query a suspect at twice the median answer, within a fifth of the floor and the deadline", () => {
    const times = new ResponseTimes({ floorMillis: 500, ceilingMillis: 5_000, dialMillis: 5_000 })
    // half the initial deadline until enough answers were seen
    expect(times.suspectMillis()).toBe(500)
    for (let i = 0; i < 64; i++) times.record(5)
    expect(times.suspectMillis()).toBe(100)
    for (let i = 0; i < 64; i++) times.record(i < 40 ? 400 : 2_700)
    // median 400 ms: suspect at 800 ms while the deadline is p90 × 1.5, capped at 5 s
    expect(times.suspectMillis()).toBe(800)
    expect(times.deadlineMillis()).toBe(4_050)
    for (let i = 0; i < 64; i++) times.record(9_000)
    expect(times.suspectMillis()).toBe(5_000)
  })
})

describe("silent and slow nodes of the in-memory network", () => {
  it.scopedLive("a silent node keeps its connection and never answers; a slow one answers late", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const [asker, silent, slow] = yield* newPeerIds(3)
      const askerNet = yield* hub.attach(asker)
      for (const id of [silent, slow]) {
        const net = yield* hub.attach(id)
        yield* net.serve(() => Effect.succeed({ type: MessageType.PING, closerPeers: [], providerPeers: [] }))
      }
      hub.setBehaviour(silent, { _tag: "silent" })
      hub.setBehaviour(slow, { _tag: "slow", delayMillis: 200 })
      const ping = { type: MessageType.PING, closerPeers: [], providerPeers: [] }
      let sent = false
      const error = yield* Effect.flip(
        askerNet.request(silent, ping, {
          timeoutMillis: 150,
          onSent: () => {
            sent = true
          }
        })
      )
      expect(error._tag).toBe("TimeoutError")
      expect(sent).toBe(true)
      expect(yield* askerNet.isConnected(silent)).toBe(true)
      const started = Date.now()
      yield* askerNet.request(slow, ping, { timeoutMillis: 2_000 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    })
  )
})

describe("retries: direct requests only", () => {
  it.scopedLive("maxRetryAttempts applies to a direct request; a lookup asks a silent peer once", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({
        size: 4,
        requestTimeoutMillis: 200,
        retry: { maxAttempts: 3, initialBackoff: "10 millis", maxBackoff: "10 millis", backoffFactor: 1 }
      })
      const [asker, silent] = sim.nodes
      sim.hub.setBehaviour(silent.id, { _tag: "silent" })
      const before = sim.hub.stats.requests
      const error = yield* asker.run(
        Effect.flatMap(PeerRouting, (r) =>
          Effect.flip(r.request(silent.id, { type: MessageType.PING, closerPeers: [], providerPeers: [] }))
        )
      )
      expect(error).toBeInstanceOf(MaxRetriesExceededException)
      expect((error as MaxRetriesExceededException).attempts).toBe(3)
      expect(sim.hub.stats.requests - before).toBe(3)

      const events = yield* asker.run(
        Effect.flatMap(PeerRouting, (r) => Stream.runCollect(r.getClosestPeersStream(silent.id.toMultihash().bytes)))
      )
      const sentToSilent = Chunk.toArray(events).filter((e) => e._tag === "QuerySent" && e.peer.equals(silent.id))
      expect(sentToSilent.length).toBeLessThanOrEqual(1)
    })
  )
})

describe("peers known to have failed", () => {
  it.effect("are asked without being waited for: a lookup whose closest peers all failed before goes on at once", () =>
    Effect.gen(function* () {
      const [self, ...peers] = yield* newPeerIds(16)
      // the ten closest seeds failed recently and stay silent; the rest answer in 10 ms
      const target = kadIdOfKey(new Uint8Array([5]))
      const sorted = [...peers].sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
      const failed = new Set(sorted.slice(0, 10).map(String))
      const scripts = new Map<string, Script>([...failed].map((id) => [id, { delay: "never" as const }]))
      let inFlight = 0
      let maxInFlight = 0
      const { result, millis } = yield* timed(
        runLookup({
          target,
          seeds: peers.map(info),
          self,
          k: 20,
          alpha: 3,
          beta: 3,
          query: (peer, progress) =>
            Effect.gen(function* () {
              if (!failed.has(peer.id.toString())) {
                inFlight++
                maxInFlight = Math.max(maxInFlight, inFlight)
              }
              return yield* scriptedQuery(scripts, [])(peer, progress)
            }).pipe(Effect.ensuring(Effect.sync(() => failed.has(peer.id.toString()) || inFlight--))),
          unreliable: (peer) => failed.has(peer.toString()),
          deadline: () => ({ dialMillis: 5_000, responseMillis: () => 5_000 })
        })
      )
      expect(result.closest.map((p) => p.id.toString()).sort()).toEqual(sorted.slice(10).map(String).sort())
      // the live peers take two rounds of 10 ms at alpha 3, never waiting for a known failure
      expect(millis).toBeLessThanOrEqual(100)
      expect(maxInFlight).toBeLessThanOrEqual(3)
    })
  )
})

describe("peers overdue in another lookup", () => {
  it.scopedLive("a silent peer one lookup ran past its deadline is not waited for by the next", () =>
    Effect.gen(function* () {
      // the request timeout outlasts the test: the first lookup's query to the silent peer is still running
      const sim = yield* makeSimulation({ size: 6, requestTimeoutMillis: 30_000 })
      const [asker, silent] = sim.nodes
      sim.hub.setBehaviour(silent.id, { _tag: "silent" })
      const overdueWaits = (key: Uint8Array) =>
        Effect.map(
          asker.run(Effect.flatMap(PeerRouting, (r) => Stream.runCollect(r.getClosestPeersStream(key)))),
          (events) =>
            Chunk.toArray(events).flatMap((e) =>
              e._tag === "PeerOverdue" && e.peer.equals(silent.id) ? [e.waitedMillis] : []
            )
        )
      const first = yield* overdueWaits(silent.id.toMultihash().bytes)
      expect(first).toHaveLength(1)
      // waited out a deadline (at least the 500 ms floor)
      expect(first[0]).toBeGreaterThanOrEqual(400)
      const second = yield* overdueWaits(asker.id.toMultihash().bytes)
      // asked again, but counted as overdue at once
      expect(second).toEqual([0])
    })
  )
})
