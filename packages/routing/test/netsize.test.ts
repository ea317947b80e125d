import { describe, expect, it } from "@effect/vitest"
import { asKadId, commonPrefixLength, compareDistance, KAD_ID_BYTES, type KadId } from "@effect-kad/core"
import { Effect, Layer, TestClock } from "effect"
import {
  NetworkSizeEstimator,
  type NetworkSizeEstimatorConfig,
  type NetworkSizeEstimatorShape,
  RoutingTable
} from "../src/index.js"

const K = 20

/** Deterministic bytes (xorshift32), so the statistical checks below run on the same data every time. */
const makeRandom = (seed: number) => {
  let state = seed >>> 0 || 1
  const nextByte = (): number => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state & 0xff
  }
  return {
    kadId: (): KadId => {
      const out = new Uint8Array(KAD_ID_BYTES)
      for (let i = 0; i < KAD_ID_BYTES; i++) out[i] = nextByte()
      return asKadId(out)
    }
  }
}

/** The `k` closest IDs to `key`, found by scanning every ID (exact, no numeric shortcuts). */
const bruteForceClosest = (ids: ReadonlyArray<KadId>, key: Uint8Array, k: number): Array<KadId> => {
  const best: Array<KadId> = []
  for (const id of ids) {
    if (best.length === k && compareDistance(id, best[k - 1], key) >= 0) continue
    let at = best.length === k ? k - 1 : best.length
    best[at] = id
    while (at > 0 && compareDistance(best[at], best[at - 1], key) < 0) {
      const tmp = best[at - 1]
      best[at - 1] = best[at]
      best[at] = tmp
      at--
    }
  }
  return best
}

/** A synthetic network of `size` uniformly random peers. */
const network = (size: number, seed: number) => {
  const random = makeRandom(seed)
  const ids = Array.from({ length: size }, () => random.kadId())
  return { ids, random, lookup: (key: Uint8Array) => bruteForceClosest(ids, key, K) }
}

/** The ID at normalised XOR distance `fraction` from `key` (to the 53 bits the estimator reads). */
const atDistance = (key: Uint8Array, fraction: number): KadId => {
  const scaled = Math.floor(fraction * 2 ** 53)
  const high = Math.floor(scaled / 2 ** 21)
  const low = scaled % 2 ** 21
  const distance = new Uint8Array(KAD_ID_BYTES)
  distance.set([
    high >>> 24,
    (high >>> 16) & 0xff,
    (high >>> 8) & 0xff,
    high & 0xff,
    low >>> 13,
    (low >>> 5) & 0xff,
    (low & 31) << 3
  ])
  return asKadId(distance.map((b, i) => b ^ key[i]))
}

const local = makeRandom(0xfeed).kadId()

/** An estimator over an empty routing table around `local`. */
const makeEstimator = (config: NetworkSizeEstimatorConfig = {}) =>
  NetworkSizeEstimator.make(config).pipe(
    Effect.provide(Layer.fresh(RoutingTable.layer({ self: local, isAlive: () => Effect.succeed(true) })))
  )

/** Tracks `lookups` exact lookups of random keys in `net`. */
const trackLookups = (estimator: NetworkSizeEstimatorShape, net: ReturnType<typeof network>, lookups: number) =>
  Effect.forEach(
    Array.from({ length: lookups }),
    () => {
      const key = net.random.kadId()
      return estimator.track(key, net.lookup(key))
    },
    { discard: true }
  )

describe("NetworkSizeEstimator", () => {
  for (const [size, seed] of [
    [1_000, 1],
    [10_000, 2],
    [300, 3]
  ] as const) {
    it.effect(`estimates a uniformly random network of ${size} peers within 30%`, () =>
      Effect.gen(function* () {
        const estimator = yield* makeEstimator()
        yield* trackLookups(estimator, network(size, seed), 60)
        const estimate = yield* estimator.estimate
        expect(Math.abs(estimate - size) / size).toBeLessThan(0.3)
      })
    )
  }

  it.effect("recovers N exactly from ideal order statistics", () =>
    Effect.gen(function* () {
      // With the i-th closest peer at exactly i / (N + 1), the fit has no noise to average out.
      const size = 12_345
      const estimator = yield* makeEstimator()
      const random = makeRandom(11)
      for (let m = 0; m < 5; m++) {
        const key = random.kadId()
        const peers = Array.from({ length: K }, (_, i) => atDistance(key, (i + 1) / (size + 1)))
        yield* estimator.track(key, peers)
      }
      expect(yield* estimator.estimate).toBe(size)
    })
  )

  it.effect("needs the minimum number of measurements before estimating", () =>
    Effect.gen(function* () {
      const estimator = yield* makeEstimator()
      const net = network(2_000, 4)
      const error = yield* Effect.flip(estimator.estimate)
      expect(error._tag).toBe("NotEnoughDataError")
      expect(error).toMatchObject({ samples: 0, required: 5 })
      yield* trackLookups(estimator, net, 4)
      expect(yield* Effect.flip(estimator.estimate)).toMatchObject({ _tag: "NotEnoughDataError", samples: 4 })
      yield* trackLookups(estimator, net, 1)
      expect(yield* estimator.estimate).toBeGreaterThan(0)
    })
  )

  it.effect("refuses results that do not hold exactly k peers", () =>
    Effect.gen(function* () {
      const estimator = yield* makeEstimator()
      const net = network(500, 5)
      const key = net.random.kadId()
      const closest = net.lookup(key)
      const short = yield* Effect.flip(estimator.track(key, closest.slice(1)))
      expect(short).toMatchObject({ _tag: "WrongPeerCountError", expected: K, actual: K - 1 })
      const long = yield* Effect.flip(estimator.track(key, [...closest, net.ids[0]]))
      expect(long).toMatchObject({ _tag: "WrongPeerCountError", expected: K, actual: K + 1 })
      expect(yield* estimator.measurementCount).toBe(0)
      // order does not matter: the estimator ranks peers itself
      yield* estimator.track(key, [...closest].reverse())
      expect(yield* estimator.measurementCount).toBe(1)
    })
  )

  it.effect("lets measurements expire after the maximum age", () =>
    Effect.gen(function* () {
      const hour = 60 * 60 * 1000
      const estimator = yield* makeEstimator()
      const net = network(1_000, 6)
      yield* trackLookups(estimator, net, 5)
      yield* TestClock.adjust(hour)
      yield* trackLookups(estimator, net, 3)
      expect(yield* estimator.measurementCount).toBe(8)
      expect(yield* estimator.estimate).toBeGreaterThan(0)
      yield* TestClock.adjust(hour - 1)
      expect(yield* estimator.measurementCount).toBe(8)
      yield* TestClock.adjust(1)
      // the first five are now exactly two hours old
      expect(yield* estimator.measurementCount).toBe(3)
      expect(yield* Effect.flip(estimator.estimate)).toMatchObject({ _tag: "NotEnoughDataError", samples: 3 })
      yield* TestClock.adjust(hour)
      expect(yield* estimator.measurementCount).toBe(0)
    })
  )

  it.effect("keeps only the newest measurements", () =>
    Effect.gen(function* () {
      const estimator = yield* makeEstimator({ maxMeasurements: 30 })
      yield* trackLookups(estimator, network(500, 7), 30)
      const small = yield* estimator.estimate
      expect(Math.abs(small - 500) / 500).toBeLessThan(0.3)
      // a network that grew: once 30 new lookups are in, none of the old ones count
      yield* trackLookups(estimator, network(8_000, 8), 30)
      expect(yield* estimator.measurementCount).toBe(30)
      const large = yield* estimator.estimate
      expect(Math.abs(large - 8_000) / 8_000).toBeLessThan(0.3)
    })
  )

  it.effect("discounts results whose peers do not fall in the key's bucket", () =>
    Effect.gen(function* () {
      const estimator = yield* makeEstimator()
      const net = network(1_000, 9)
      yield* trackLookups(estimator, net, 20)
      // A bogus result: a key in bucket 0 answered with peers from other
      // buckets, far from the key. It would drag the estimate towards a tiny
      // network if it counted as much as a real lookup.
      const random = makeRandom(10)
      const farPeers = net.ids.filter((id) => commonPrefixLength(id, local) > 0).slice(0, K)
      for (let i = 0; i < 20; i++) {
        let key = random.kadId()
        while (commonPrefixLength(key, local) !== 0) key = random.kadId()
        yield* estimator.track(key, farPeers)
      }
      expect(yield* estimator.measurementCount).toBe(40)
      const estimate = yield* estimator.estimate
      expect(Math.abs(estimate - 1_000) / 1_000).toBeLessThan(0.3)
    })
  )

  it.effect("rejects invalid configuration", () =>
    Effect.gen(function* () {
      const cases: Array<[NetworkSizeEstimatorConfig, string]> = [
        [{ maxMeasurementAgeMillis: 0 }, "maxMeasurementAgeMillis"],
        [{ minMeasurements: 1 }, "minMeasurements"],
        [{ minMeasurements: 10, maxMeasurements: 5 }, "maxMeasurements"]
      ]
      for (const [config, field] of cases) {
        expect(yield* Effect.flip(makeEstimator(config))).toMatchObject({ _tag: "InvalidOptionError", field })
      }
    })
  )
})
