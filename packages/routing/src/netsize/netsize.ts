/**
 * Network size estimation from the results of completed lookups, after
 * go-libp2p-kad-dht's netsize package.
 *
 * In a network of N peers spread uniformly over the keyspace, the i-th
 * closest peer to a random key sits at an expected normalised distance of
 * i / (N + 1). Every completed `getClosestPeers` lookup yields one sample of
 * the distances of ranks 1..k; averaging many samples per rank and fitting
 * a line through the origin gives the slope 1 / (N + 1).
 *
 * @module
 */
import {
  asKadId,
  commonPrefixLength,
  InvalidOptionError,
  KAD_ID_BYTES,
  type KadId,
  kadIdOfPeer,
  normalizedDistance
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { NotEnoughDataError, WrongPeerCountError } from "../errors.js"
import { RoutingTable, type RoutingTableShape } from "../routing-table/routing-table.js"

/** How long a measurement counts (go-libp2p-kad-dht: 2 hours). */
export const DEFAULT_MAX_MEASUREMENT_AGE_MILLIS = 2 * 60 * 60 * 1000

/** Measurements needed before an estimate is given (go-libp2p-kad-dht: 5). */
export const DEFAULT_MIN_MEASUREMENTS = 5

/** Measurements kept at most, newest first (go-libp2p-kad-dht: 150). */
export const DEFAULT_MAX_MEASUREMENTS = 150

/** Settings of the {@link NetworkSizeEstimator}. */
export interface NetworkSizeEstimatorConfig {
  /** Measurements older than this are dropped (default 2 hours). */
  readonly maxMeasurementAgeMillis?: number
  /** Measurements required for an estimate (default 5). */
  readonly minMeasurements?: number
  /** Cap on the measurements kept; the oldest go first (default 150). */
  readonly maxMeasurements?: number
}

/** Operations of the {@link NetworkSizeEstimator} service. */
export interface NetworkSizeEstimatorShape {
  /**
   * Records the result of a completed lookup for `key` (the Kad ID it
   * targeted): exactly `k` peers (as peer IDs or their Kad IDs), in any
   * order. Fails with {@link WrongPeerCountError} for any other count,
   * since partial results from small or failing lookups would skew the fit.
   */
  readonly track: (
    key: Uint8Array,
    closestPeers: ReadonlyArray<PeerId | Uint8Array>
  ) => Effect.Effect<void, WrongPeerCountError>
  /**
   * The estimated number of peers in the network, from the measurements
   * not yet expired; fails with {@link NotEnoughDataError} while there are
   * fewer than the configured minimum.
   */
  readonly estimate: Effect.Effect<number, NotEnoughDataError>
  /** Measurements currently held (expired ones dropped). */
  readonly measurementCount: Effect.Effect<number>
}

/**
 * Estimates the size of the DHT from lookup results. Needs the
 * {@link RoutingTable} to know `k` and how full the bucket of each tracked
 * key is.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const estimator = yield* NetworkSizeEstimator
 *   yield* estimator.track(target, closestPeerIds)
 *   const peers = yield* estimator.estimate
 * }).pipe(Effect.provide(NetworkSizeEstimator.layer().pipe(Layer.provide(routingTableLayer))))
 * ```
 */
export class NetworkSizeEstimator extends Context.Tag("@effect-kad/routing/NetworkSizeEstimator")<
  NetworkSizeEstimator,
  NetworkSizeEstimatorShape
>() {
  /** Builds an estimator over the routing table in context. */
  static readonly make = (
    config: NetworkSizeEstimatorConfig = {}
  ): Effect.Effect<NetworkSizeEstimatorShape, InvalidOptionError, RoutingTable> =>
    Effect.flatMap(RoutingTable, (table) => makeEstimator(table, config))

  /** The estimator as a layer. */
  static readonly layer = (
    config: NetworkSizeEstimatorConfig = {}
  ): Layer.Layer<NetworkSizeEstimator, InvalidOptionError, RoutingTable> =>
    Layer.effect(NetworkSizeEstimator, NetworkSizeEstimator.make(config))
}

interface Measurement {
  readonly at: number
  readonly weight: number
  /** Normalised distances of ranks 1..k, ascending. */
  readonly distances: Float64Array
}

const makeEstimator = (
  table: RoutingTableShape,
  config: NetworkSizeEstimatorConfig
): Effect.Effect<NetworkSizeEstimatorShape, InvalidOptionError> =>
  Effect.gen(function* () {
    const maxAge = config.maxMeasurementAgeMillis ?? DEFAULT_MAX_MEASUREMENT_AGE_MILLIS
    const minimum = config.minMeasurements ?? DEFAULT_MIN_MEASUREMENTS
    const maximum = config.maxMeasurements ?? DEFAULT_MAX_MEASUREMENTS
    if (!(maxAge > 0)) return yield* invalid("maxMeasurementAgeMillis", "must be positive")
    if (!Number.isInteger(minimum) || minimum < 2) return yield* invalid("minMeasurements", "must be an integer >= 2")
    if (!Number.isInteger(maximum) || maximum < minimum) {
      return yield* invalid("maxMeasurements", "must be an integer >= minMeasurements")
    }
    const k = table.bucketSize
    const local = table.localKadId
    // Time-ordered: appended with the current time, expired from the front.
    let measurements: Array<Measurement> = []

    const expire = (now: number): void => {
      const cutoff = now - maxAge
      let drop = 0
      while (drop < measurements.length && measurements[drop].at <= cutoff) drop++
      if (measurements.length - drop > maximum) drop = measurements.length - maximum
      if (drop > 0) measurements = measurements.slice(drop)
    }

    const track = (
      key: Uint8Array,
      closestPeers: ReadonlyArray<PeerId | Uint8Array>
    ): Effect.Effect<void, WrongPeerCountError> =>
      Effect.gen(function* () {
        if (closestPeers.length !== k) {
          return yield* Effect.fail(new WrongPeerCountError({ expected: k, actual: closestPeers.length }))
        }
        const target = asKadId(key)
        const ids = closestPeers.map(toKadId)
        const distances = Float64Array.from(ids, (id) => normalizedDistance(id, target)).sort()
        const keyCpl = commonPrefixLength(target, local)
        const bucketLevel = yield* table.peerCountForCpl(keyCpl)
        const weight = measurementWeight(k, keyCpl, bucketLevel, ids, local)
        const now = yield* Clock.currentTimeMillis
        measurements.push({ at: now, weight, distances })
        expire(now)
      })

    const estimate: Effect.Effect<number, NotEnoughDataError> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      expire(now)
      // Recomputed on demand rather than cached: k × 150 additions cost
      // less than tracking when a cached value goes stale through expiry.
      if (measurements.length < minimum) {
        return Effect.fail(new NotEnoughDataError({ samples: measurements.length, required: minimum }))
      }
      return Effect.succeed(fitNetworkSize(measurements, k))
    })

    return {
      track,
      estimate,
      measurementCount: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          expire(now)
          return measurements.length
        })
      )
    } satisfies NetworkSizeEstimatorShape
  })

const invalid = (field: string, reason: string) => Effect.fail(new InvalidOptionError({ field, reason }))

const toKadId = (peer: PeerId | Uint8Array): Uint8Array => {
  if (!(peer instanceof Uint8Array)) return kadIdOfPeer(peer)
  if (peer.byteLength !== KAD_ID_BYTES)
    throw new RangeError(`a Kad ID has ${KAD_ID_BYTES} bytes, got ${peer.byteLength}`)
  return peer
}

/**
 * How much a measurement counts, as in go-libp2p-kad-dht: halved for each
 * slot missing from the bucket the key falls in, since a sparse bucket hints
 * the lookup could not reach the true closest peers. When the result itself
 * holds more peers of that bucket than the table does, the result is the
 * better witness of how full it could be.
 */
const measurementWeight = (
  k: number,
  keyCpl: number,
  bucketLevel: number,
  peers: ReadonlyArray<Uint8Array>,
  local: KadId
): number => {
  let level = bucketLevel
  if (bucketLevel < k) {
    let peerLevel = 0
    for (const id of peers) if (commonPrefixLength(id, local) === keyCpl) peerLevel++
    if (peerLevel > level) level = peerLevel
  }
  return 2 ** (level - k)
}

/**
 * Fits `mean distance of rank i = i / (N + 1)` through the origin.
 *
 * The weighted mean distance per rank is fitted by weighted least squares
 * with weights 1 / i, because the variance of the i-th order statistic
 * grows in proportion to i. go-libp2p-kad-dht weighs each rank by its
 * sample standard deviation instead; with as few as five samples that
 * estimate is noisy and correlated with the mean it weighs, while the
 * theoretical weights are exact. With weights 1 / i the slope reduces to
 * (sum of rank means) / (sum of ranks).
 */
const fitNetworkSize = (measurements: ReadonlyArray<Measurement>, k: number): number => {
  let totalWeight = 0
  for (const m of measurements) totalWeight += m.weight
  let sumOfMeans = 0
  for (let rank = 0; rank < k; rank++) {
    let weighted = 0
    for (const m of measurements) weighted += m.weight * m.distances[rank]
    sumOfMeans += weighted / totalWeight
  }
  const slope = sumOfMeans / ((k * (k + 1)) / 2)
  return Math.max(0, Math.round(1 / slope - 1))
}
