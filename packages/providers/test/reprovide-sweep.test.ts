import { describe, expect, it } from "@effect/vitest"
import { compareBytes, compareDistance, InvalidKeyError, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import { makeSimulation, type SimulatedNode } from "@effect-kad/routing"
import { MemoryDatastore } from "datastore-core"
import {
  Chunk,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Layer,
  Logger,
  Runtime,
  Scope,
  Stream,
  TestClock,
  TestServices
} from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import * as Digest from "multiformats/hashes/digest"
import { sha256 } from "multiformats/hashes/sha2"
import {
  ContentRouting,
  type ContentRoutingConfig,
  layerContentRouting,
  type ProvideManyProgress,
  ProviderStoreService
} from "../src/index.js"
import { inPrefix, keyspaceFraction, prefixEnd } from "../src/internal/content-routing/regions.js"

type Node = SimulatedNode<ContentRouting | ProviderStoreService>

const cidOfDigest = (digest: Uint8Array) => CID.createV1(raw.code, Digest.create(sha256.code, digest))

const cidsOf = (count: number, label: string) =>
  Effect.promise(() =>
    Promise.all(
      Array.from({ length: count }, async (_, i) =>
        CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`${label} ${i}`)))
      )
    )
  )

const content = <A, E>(node: Node, f: (c: ContentRouting["Type"]) => Effect.Effect<A, E>) =>
  node.run(Effect.flatMap(ContentRouting, f))

/** Ids of the nodes whose provider store lists `provider` for `key`. */
const holders = (nodes: ReadonlyArray<Node>, key: Uint8Array, provider: Node) =>
  Effect.map(
    Effect.forEach(nodes, (node) =>
      node.run(
        Effect.map(
          Effect.flatMap(ProviderStoreService, (s) => s.getProviders(key)),
          (providers) => providers.some((p) => p.id.equals(provider.id))
        )
      )
    ),
    (held) => nodes.filter((_, i) => held[i]).map((node) => node.id.toString())
  )

/** The `k` nodes other than `self` closest to `key`. */
const closest = (nodes: ReadonlyArray<Node>, self: Node, key: Uint8Array, k: number) => {
  const target = kadIdOfKey(key)
  return nodes
    .filter((node) => node !== self)
    .sort((a, b) => compareDistance(kadIdOfPeer(a.id), kadIdOfPeer(b.id), target))
    .slice(0, k)
    .map((node) => node.id.toString())
}

/** Polls `check` on the live clock (every 10 ms, 10 s at most) while the test clock stands still. */
const eventually = (check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      if (check()) return
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
    expect.fail("condition not reached within 10 s")
  })

/**
 * A content routing service of its own on `node` (over the node's network,
 * routing and provider store), alive until `scope` closes: a node process
 * that can be stopped and started again on the same datastore.
 */
const startOwn = (node: Node, scope: Scope.Scope, config: ContentRoutingConfig) =>
  node.run(
    Effect.map(
      Layer.buildWithScope(ContentRouting.layer(config), scope).pipe(
        Effect.provide(Layer.succeedContext(node.context))
      ),
      (context) => Context.get(context, ContentRouting)
    )
  )

const timing = { provideValidity: "48 hours", reprovideInterval: "22 hours" } as const

describe("keyspace regions", () => {
  const id = fc.uint8Array({ minLength: 32, maxLength: 32 })
  it.prop(
    "a prefix's IDs all lie before its end, which lies outside it",
    [id, id, fc.integer({ min: 1, max: 256 })],
    ([base, tail, depth]) => {
      // an ID sharing base's first `depth` bits, with tail's bits after them
      const member = new Uint8Array(32)
      for (let bit = 0; bit < 256; bit++) {
        const from = bit < depth ? base : tail
        if ((from[bit >>> 3] >>> (7 - (bit & 7))) & 1) member[bit >>> 3] |= 0x80 >>> (bit & 7)
      }
      expect(inPrefix(member, base, depth)).toBe(true)
      const end = prefixEnd(base, depth)
      if (end === undefined) {
        // only a prefix of all ones reaches the end of the keyspace
        for (let bit = 0; bit < depth; bit++) expect((base[bit >>> 3] >>> (7 - (bit & 7))) & 1).toBe(1)
      } else {
        expect(compareBytes(member, end)).toBeLessThan(0)
        expect(inPrefix(end, base, depth)).toBe(false)
      }
    }
  )
})

describe("sweeping reprovide on a simulated network", () => {
  it.scoped(
    "property: a sweep gives every key to its 20 closest peers, with far fewer lookups than keys",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation(
          { size: 60, join: "filled-tables" },
          layerContentRouting({ reprovideInterval: Duration.infinity, cleanupInterval: Duration.infinity })
        )
        const nodes = sim.nodes
        const runtime = yield* Effect.runtime<never>()
        const digests = fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
          minLength: 1,
          maxLength: 120,
          selector: (bytes) => Buffer.from(bytes).toString("hex")
        })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.nat({ max: nodes.length - 1 }), digests, (index, keys) =>
              Runtime.runPromise(runtime)(
                Effect.gen(function* () {
                  const provider = nodes[index]
                  const cids = keys.map(cidOfDigest)
                  const seen: Array<ProvideManyProgress> = []
                  const result = yield* content(provider, (c) =>
                    c.provideMany(cids, { onProgress: (p) => Effect.sync(() => seen.push(p)) })
                  )
                  expect(result.done).toBe(cids.length)
                  expect(result.messages).toBe(cids.length * 20)
                  expect(result.delivered).toBe(result.messages)
                  expect(result.undelivered).toBe(0)
                  expect(seen.at(-1)?.done).toBe(cids.length)
                  // progress only grows
                  for (let i = 1; i < seen.length; i++) expect(seen[i].done).toBeGreaterThan(seen[i - 1].done)
                  // a region costs a few lookups, whatever the number of its keys
                  expect(result.lookups).toBeLessThanOrEqual(4 * result.regions)
                  if (cids.length >= 100) expect(result.lookups).toBeLessThan(cids.length / 2)
                  for (const cid of cids) {
                    const key = cid.multihash.bytes
                    const held = yield* holders(nodes, key, provider)
                    expect(held.filter((id) => id !== provider.id.toString()).sort()).toEqual(
                      closest(nodes, provider, key, 20).sort()
                    )
                  }
                  const provided = yield* content(provider, (c) => c.providedKeys)
                  expect(provided.length).toBeGreaterThanOrEqual(cids.length)
                })
              )
            ),
            { numRuns: 6 }
          )
        )
      }),
    60_000
  )

  it.scoped(
    "provided keys survive a restart on the same datastore and are reprovided on schedule; stopProviding ends that",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation(
          { size: 30, join: "filled-tables" },
          layerContentRouting({ ...timing, cleanupInterval: Duration.infinity })
        )
        const [provider, , seeker] = sim.nodes
        const datastore = new MemoryDatastore()
        const cids = yield* cidsOf(12, "restart")
        const [stopped, ...kept] = cids

        // first life: provide, then stop the process
        const first = yield* Scope.make()
        const before = yield* startOwn(provider, first, { ...timing, datastore })
        yield* before.provideMany(cids)
        yield* Scope.close(first, Exit.void)

        // second life on the same datastore: the keys are back without providing them again
        const second = yield* Scope.make()
        const after = yield* startOwn(provider, second, { ...timing, datastore })
        const back = (yield* after.providedKeys).map((key) => Buffer.from(key).toString("hex")).sort()
        expect(back).toEqual(cids.map((cid) => Buffer.from(cid.multihash.bytes).toString("hex")).sort())
        expect((yield* after.reprovideProgress).keysTotal).toBe(cids.length)

        expect(yield* after.stopProviding(stopped)).toBe(true)
        expect(yield* after.stopProviding(stopped)).toBe(false)
        const bad = yield* Effect.flip(after.stopProviding({} as CID))
        expect(bad).toBeInstanceOf(InvalidKeyError)

        for (let round = 1; round <= 3; round++) {
          const oneWay = sim.hub.stats.oneWay
          yield* TestClock.adjust(Duration.hours(22))
          // each cycle hands every kept key to its 20 closest peers once
          yield* eventually(() => sim.hub.stats.oneWay >= oneWay + kept.length * 20)
          expect(sim.hub.stats.oneWay).toBe(oneWay + kept.length * 20)
        }
        const progress = yield* after.reprovideProgress
        expect(progress.cyclesCompleted).toBeGreaterThanOrEqual(2)
        expect(progress.overrunCycles).toBe(0)

        // 66 hours in: the first announcements expired; what is found was reprovided
        const network = sim.nodes
        for (const cid of kept) {
          const held = yield* holders(network, cid.multihash.bytes, provider)
          expect(held.filter((id) => id !== provider.id.toString()).sort()).toEqual(
            closest(network, provider, cid.multihash.bytes, 20).sort()
          )
        }
        expect(
          (yield* holders(network, stopped.multihash.bytes, provider)).filter((id) => id !== provider.id.toString())
        ).toEqual([])
        for (const cid of kept) {
          const found = yield* content(seeker, (c) => Stream.runCollect(c.findProviders(cid, { count: 1 })))
          expect(Chunk.toArray(found).map((p) => p.id.toString())).toEqual([provider.id.toString()])
        }
        yield* Scope.close(second, Exit.void)

        // a third life no longer knows the stopped key
        const third = yield* Scope.make()
        const last = yield* startOwn(provider, third, { ...timing, datastore })
        expect((yield* last.providedKeys).length).toBe(kept.length)
        yield* Scope.close(third, Exit.void)
      }),
    60_000
  )

  it.scoped(
    "a cycle interrupted by a restart resumes where it stopped; a cycle that overruns its interval is counted",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation(
          { size: 100, join: "filled-tables" },
          layerContentRouting({ ...timing, cleanupInterval: Duration.infinity })
        )
        const provider = sim.nodes[0]
        const datastore = new MemoryDatastore()
        const cids = yield* cidsOf(40, "resume")

        const first = yield* Scope.make()
        const before = yield* startOwn(provider, first, { ...timing, datastore })
        yield* before.provideMany(cids)
        // the first region is due at the first key's place in the keyspace; move just past it
        const earliest = Math.min(...cids.map((cid) => keyspaceFraction(kadIdOfKey(cid.multihash.bytes))))
        yield* TestClock.adjust(Duration.millis(Math.ceil(earliest * Duration.toMillis(timing.reprovideInterval)) + 1))
        const stoppedAt = yield* Effect.gen(function* () {
          for (let i = 0; i < 1000; i++) {
            const progress = yield* before.reprovideProgress
            if (progress.doneInCycle > 0) return progress
            yield* TestServices.provideLive(Effect.sleep("10 millis"))
          }
          return expect.fail("no region was reprovided")
        })
        expect(stoppedAt.doneInCycle).toBeLessThan(cids.length)
        yield* Scope.close(first, Exit.void)

        // the node stays down for more than two intervals
        yield* TestClock.adjust(Duration.hours(50))
        const oneWay = sim.hub.stats.oneWay
        const second = yield* Scope.make()
        const after = yield* startOwn(provider, second, { ...timing, datastore })
        const resumed = yield* after.reprovideProgress
        expect(resumed.cycleStartMillis).toBe(stoppedAt.cycleStartMillis)
        expect(resumed.doneInCycle).toBe(stoppedAt.doneInCycle)

        // the rest of the interrupted cycle runs at once, late, and is counted as overrun
        yield* eventually(() => sim.hub.stats.oneWay >= oneWay + (cids.length - stoppedAt.doneInCycle) * 20)
        const late = yield* Effect.gen(function* () {
          for (let i = 0; i < 1000; i++) {
            const progress = yield* after.reprovideProgress
            if (progress.cyclesCompleted > 0) return progress
            yield* TestServices.provideLive(Effect.sleep("10 millis"))
          }
          return expect.fail("the cycle did not finish")
        })
        expect(late.overrunCycles).toBe(1)
        yield* Scope.close(second, Exit.void)
      }),
    60_000
  )

  it.scoped(
    "a cycle still running when its interval ends is logged and counted then, not when its region finishes",
    () =>
      Effect.gen(function* () {
        let latencyMillis = 0
        const sim = yield* makeSimulation(
          {
            size: 30,
            join: "filled-tables",
            network: { latencyMillis: () => latencyMillis },
            // slow answers are waited for: the lookups succeed, late
            queryDeadline: { floorMillis: 10_000, ceilingMillis: 10_000, dialMillis: 10_000 }
          },
          layerContentRouting({ reprovideInterval: Duration.infinity, cleanupInterval: Duration.infinity })
        )
        const provider = sim.nodes[0]
        const warnings: Array<string> = []
        const capture = Logger.make(({ logLevel, message }) => {
          if (logLevel._tag !== "Warning") return
          warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
        const overrunWarning = "reprovide cycle cannot finish within its interval"
        const short = { provideValidity: "48 hours", reprovideInterval: "2 seconds" } as const
        const scope = yield* Scope.make()
        const own = yield* startOwn(provider, scope, short).pipe(Effect.provide(Logger.add(capture)))
        yield* own.provideMany(yield* cidsOf(12, "overrun"))
        const cycleStart = (yield* own.reprovideProgress).cycleStartMillis ?? expect.fail("no cycle started")

        // From now on a message takes a second: a region needs at least one
        // round trip and one send, 3 s, more than the whole 2 s interval.
        latencyMillis = 1_000
        while ((yield* Clock.currentTimeMillis) < cycleStart + 2_200) {
          yield* TestClock.adjust("100 millis")
          yield* TestServices.provideLive(Effect.sleep("5 millis"))
        }
        yield* eventually(() => warnings.includes(overrunWarning))
        const atDeadline = yield* own.reprovideProgress
        expect(atDeadline.overrunCycles).toBe(1)
        // no region has finished: the overrun was noticed by the deadline itself
        expect(atDeadline.doneInCycle).toBe(0)
        expect(atDeadline.cyclesCompleted).toBe(0)

        // a fast network again: the late cycle finishes, counted once, and the next one keeps time
        latencyMillis = 0
        for (let i = 0; i < 1000 && (yield* own.reprovideProgress).cyclesCompleted < 2; i++) {
          yield* TestClock.adjust("100 millis")
          yield* TestServices.provideLive(Effect.sleep("5 millis"))
        }
        const after = yield* own.reprovideProgress
        expect(after.cyclesCompleted).toBeGreaterThanOrEqual(2)
        expect(after.overrunCycles).toBe(1)
        expect(warnings.filter((text) => text === overrunWarning)).toHaveLength(1)
        yield* Scope.close(scope, Exit.void)
      }),
    60_000
  )

  it.scoped(
    "the classic strategy stays available: one lookup per key, every key at once",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation(
          { size: 30, join: "filled-tables" },
          layerContentRouting({ ...timing, reprovideStrategy: "classic", cleanupInterval: Duration.infinity })
        )
        const provider = sim.nodes[0]
        const cids = yield* cidsOf(3, "classic")
        for (const cid of cids) yield* content(provider, (c) => c.provide(cid))
        const oneWay = sim.hub.stats.oneWay
        yield* TestClock.adjust(Duration.hours(22))
        yield* eventually(() => sim.hub.stats.oneWay >= oneWay + cids.length * 20)
        expect(sim.hub.stats.oneWay).toBe(oneWay + cids.length * 20)
        const progress = yield* content(provider, (c) => c.reprovideProgress)
        expect(progress).toMatchObject({ strategy: "classic", keysTotal: 3, doneInCycle: 3, lookups: 3 })
        for (const cid of cids) {
          const held = yield* holders(sim.nodes, cid.multihash.bytes, provider)
          expect(held.filter((id) => id !== provider.id.toString()).sort()).toEqual(
            closest(sim.nodes, provider, cid.multihash.bytes, 20).sort()
          )
        }
        // a strategy that does not exist is refused when the service is built
        const refused = yield* Effect.flip(
          Scope.make().pipe(
            Effect.flatMap((scope) => startOwn(provider, scope, { reprovideStrategy: "batch" as never }))
          )
        )
        expect(refused.message).toContain("reprovideStrategy")
      }),
    60_000
  )
})
