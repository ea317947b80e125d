/**
 * The sweeping reprovider and `provideMany`: provided keys ordered by Kad
 * ID are reprovided region by region (one exploration per region, see
 * `regions.ts`), each region at its own time within the reprovide interval,
 * so that the cost of a cycle is spread evenly over it and grows with the
 * number of regions rather than the number of keys. The position is saved
 * after every region, so a restarted node resumes the cycle where it stopped.
 *
 * @internal
 * @module
 */
import { type PeerInfo, printableKey } from "@effect-kad/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { ProviderStoreServiceShape } from "../../store/service.js"
import type { ProvideEnv } from "./optimistic.js"
import {
  KEYSPACE_END,
  KEYSPACE_START,
  type ProvidedKey,
  type ProvidedKeys,
  type SweepPosition
} from "./provided-keys.js"
import { announceRegion, exploreRegion, keyspaceFraction, prefixEnd } from "./regions.js"

/** How keys are reprovided: region by region over the interval, or one lookup per key all at once. */
export type ReprovideStrategy = "sweep" | "classic"

/**
 * Where reproviding stands, for monitoring. Counters run from the start of
 * the service.
 */
export interface ReprovideProgress {
  readonly strategy: ReprovideStrategy
  /** Keys being reprovided. */
  readonly keysTotal: number
  /** Keys reprovided so far in the current cycle. */
  readonly doneInCycle: number
  /** When the current cycle started (milliseconds since the epoch); undefined before the first. */
  readonly cycleStartMillis: number | undefined
  /** Cycles finished. */
  readonly cyclesCompleted: number
  /** Cycles that could not finish within their interval. */
  readonly overrunCycles: number
  /** Lookups made to reprovide. */
  readonly lookups: number
  /** ADD_PROVIDER messages sent to reprovide. */
  readonly messages: number
}

/** Mutable counters behind {@link ReprovideProgress}. */
export interface ProgressCounters {
  doneInCycle: number
  cycleStartMillis: number | undefined
  cyclesCompleted: number
  overrunCycles: number
  lookups: number
  messages: number
}

/** Fresh counters. */
export const makeCounters = (): ProgressCounters => ({
  doneInCycle: 0,
  cycleStartMillis: undefined,
  cyclesCompleted: 0,
  overrunCycles: 0,
  lookups: 0,
  messages: 0
})

/** Progress of one `provideMany`, reported after every region. */
export interface ProvideManyProgress {
  /** Keys of the call. */
  readonly total: number
  /** Keys announced so far. */
  readonly done: number
  /** Regions announced so far. */
  readonly regions: number
  /** Lookups made so far. */
  readonly lookups: number
  /** ADD_PROVIDER sent so far. */
  readonly messages: number
}

/** What `provideMany` did. */
export interface ProvideManyResult extends ProvideManyProgress {
  /** ADD_PROVIDER delivered. */
  readonly delivered: number
  /** ADD_PROVIDER due but not delivered (failed, or skipped after an earlier send to the same peer failed). */
  readonly undelivered: number
  /** Distinct peers sent to (a peer of several regions counts once per region). */
  readonly peers: number
}

/** What the sweep works with besides the provide environment. */
export interface SweepEnv {
  readonly provide: ProvideEnv
  readonly keys: ProvidedKeys
  readonly store: ProviderStoreServiceShape
  /** Told whenever keys are added, so that a sweep waiting for the end of its cycle takes them in. */
  readonly added: Queue.Queue<void>
}

/** Regions `provideMany` announces at once. */
const REGIONS_ANNOUNCED_AT_ONCE = 4

// Our own record of each key is refreshed too, as a classic reprovide does.
const refreshLocal = (env: SweepEnv, self: PeerInfo, entries: ReadonlyArray<ProvidedKey>) =>
  Effect.forEach(
    entries,
    (entry) =>
      env.store
        .addProvider(entry.key, self)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("refreshing a local provider record failed").pipe(
              Effect.annotateLogs({ key: printableKey(entry.key), error: error.message })
            )
          )
        ),
    { discard: true }
  )

/**
 * Announces `entries` (sorted by Kad ID) region by region, right away.
 * `onRegion` hears the running totals after each region.
 */
export const sweepEntries = (
  env: SweepEnv,
  entries: ReadonlyArray<ProvidedKey>,
  onRegion: (progress: ProvideManyProgress) => Effect.Effect<void>
): Effect.Effect<ProvideManyResult> =>
  Effect.gen(function* () {
    const self = yield* env.provide.network.selfInfo
    let done = 0
    let regions = 0
    let lookups = 0
    let messages = 0
    let delivered = 0
    let undelivered = 0
    let peers = 0
    // The next region is explored while earlier ones are still being announced.
    const announcing = yield* Effect.makeSemaphore(REGIONS_ANNOUNCED_AT_ONCE)
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    let at = 0
    while (at < entries.length) {
      const region = yield* exploreRegion(env.provide, env.keys, entries[at])
      lookups += region.lookups
      const end = prefixEnd(region.prefix, region.depth)
      let until = at + 1
      if (end === undefined) until = entries.length
      else while (until < entries.length && lowerThan(entries[until].kadId, end)) until++
      const batch = entries.slice(at, until)
      at = until
      yield* announcing.take(1)
      const fiber = yield* announceRegion(env.provide, self, region, batch).pipe(
        Effect.flatMap((outcome) => {
          done += batch.length
          regions++
          messages += outcome.messages
          delivered += outcome.delivered
          undelivered += outcome.undelivered
          peers += outcome.peers
          return onRegion({ total: entries.length, done, regions, lookups, messages })
        }),
        Effect.ensuring(announcing.release(1)),
        Effect.fork
      )
      fibers.push(fiber)
    }
    yield* Fiber.joinAll(fibers)
    return { total: entries.length, done, regions, lookups, messages, delivered, undelivered, peers }
  })

const lowerThan = (a: Uint8Array, b: Uint8Array): boolean => {
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return a[i] < b[i]
  return false
}

/**
 * Starts the reprovide loop, which lives as long as the scope: resumes the
 * saved cycle (or starts one now; the progress is readable once this
 * returns), then forever takes the region at the cursor once its time in
 * the cycle has come, reprovides its keys and saves the position. A cycle
 * still running when its interval ends is counted and logged as soon as the
 * interval ends; the next one starts when it finishes rather than piling up.
 */
export const startSweeps = (
  env: SweepEnv,
  intervalMillis: number,
  counters: ProgressCounters
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const saved = yield* env.keys.loadPosition.pipe(
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning("reading the reprovide position failed; starting a new cycle", error),
          Option.none()
        )
      )
    )
    let position: SweepPosition = Option.isSome(saved)
      ? saved.value
      : { cycleStart: yield* Clock.currentTimeMillis, cursor: KEYSPACE_START }
    counters.cycleStartMillis = position.cycleStart
    counters.doneInCycle = env.keys.lowerBound(position.cursor)
    let overran = false

    const save = (next: SweepPosition) =>
      env.keys
        .savePosition(next)
        .pipe(Effect.catchAll((error) => Effect.logWarning("saving the reprovide position failed", error)))

    const noteOverrun = Effect.suspend(() => {
      if (overran) return Effect.void
      overran = true
      counters.overrunCycles++
      return Effect.logWarning("reprovide cycle cannot finish within its interval").pipe(
        Effect.annotateLogs({ keys: env.keys.size, done: counters.doneInCycle, intervalMillis })
      )
    })

    // Past the last key: keys provided meanwhile behind the cursor still
    // belong to this cycle, so the cycle only ends with its interval.
    const endOfKeys = Effect.gen(function* () {
      const deadline = position.cycleStart + intervalMillis
      const now = yield* Clock.currentTimeMillis
      if (now < deadline) {
        yield* Effect.raceFirst(Effect.sleep(Duration.millis(deadline - now)), Queue.take(env.added))
        return
      }
      counters.cyclesCompleted++
      // a late cycle is followed at once, a punctual one keeps the schedule
      position = { cycleStart: overran ? now : deadline, cursor: KEYSPACE_START }
      yield* save(position)
      counters.cycleStartMillis = position.cycleStart
      counters.doneInCycle = 0
      overran = false
    })

    const step = Effect.gen(function* () {
      const sorted = env.keys.sorted()
      const at = env.keys.lowerBound(position.cursor)
      if (at >= sorted.length) return yield* endOfKeys
      const now = yield* Clock.currentTimeMillis
      const due = position.cycleStart + intervalMillis * keyspaceFraction(sorted[at].kadId)
      // keys may come and go while waiting (a new one may be due sooner): the region is chosen again afterwards
      if (now < due) return yield* Effect.raceFirst(Effect.sleep(Duration.millis(due - now)), Queue.take(env.added))
      const deadline = position.cycleStart + intervalMillis
      yield* Effect.raceFirst(reprovideRegion(sorted[at]), overrunAt(deadline - now))
      if ((yield* Clock.currentTimeMillis) > deadline) yield* noteOverrun
    })

    // The region at the cursor: explored, its keys refreshed here and
    // announced, and the cursor moved past it.
    const reprovideRegion = (first: ProvidedKey) =>
      Effect.gen(function* () {
        const region = yield* exploreRegion(env.provide, env.keys, first)
        const end = prefixEnd(region.prefix, region.depth)
        const current = env.keys.sorted()
        const from = env.keys.lowerBound(position.cursor)
        const until = end === undefined ? current.length : env.keys.lowerBound(end)
        const entries = current.slice(from, until)
        const self = yield* env.provide.network.selfInfo
        yield* refreshLocal(env, self, entries)
        const outcome = yield* announceRegion(env.provide, self, region, entries)
        counters.lookups += region.lookups
        counters.messages += outcome.messages
        counters.doneInCycle += entries.length
        position = { cycleStart: position.cycleStart, cursor: end ?? KEYSPACE_END }
        yield* save(position)
      })

    // Raced against a region's work: when the interval ends first, the cycle
    // has overrun right then, whether or not the region (a silent peer, a
    // slow lookup) ever finishes. It never completes, so the race ends with
    // the region, whichever way that ends, and interrupts it.
    const overrunAt = (millis: number): Effect.Effect<never> =>
      Effect.sleep(Duration.millis(Math.max(0, millis))).pipe(
        Effect.zipRight(noteOverrun),
        Effect.zipRight(Effect.never)
      )

    yield* Effect.forkScoped(Effect.forever(step))
  })
