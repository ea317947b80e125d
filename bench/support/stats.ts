/**
 * Summaries of samples for the network suites: medians, percentiles and
 * means, and seeded randomness so that two networks built for a side by
 * side comparison make the same choices.
 *
 * @module
 */
import os from "node:os"
import { median } from "../lib/measure.js"

/**
 * The `q` quantile (0 ≤ q ≤ 1) of a non-empty list by the nearest-rank
 * method: the smallest sample at or above a fraction q of the samples. With
 * 20 samples the 0.95 quantile is the 19th smallest, a real observation
 * rather than an interpolation between two.
 *
 * @example
 * ```ts
 * quantile([5, 1, 4, 2, 3], 0.95) // 5
 * ```
 */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) throw new RangeError("quantile of no values")
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil(q * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]
}

/** Arithmetic mean of a non-empty list. */
export const mean = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new RangeError("mean of no values")
  let sum = 0
  for (const v of values) sum += v
  return sum / values.length
}

/** Median and 95th percentile of a list of samples, with the count. */
export interface Summary {
  readonly count: number
  readonly median: number
  readonly p95: number
  readonly mean: number
}

/** Summarises samples; `undefined` when there are none. */
export const summarize = (values: ReadonlyArray<number>): Summary | undefined =>
  values.length === 0
    ? undefined
    : { count: values.length, median: median(values), p95: quantile(values, 0.95), mean: mean(values) }

/**
 * A small deterministic PRNG (mulberry32): the same seed gives the same
 * sequence, so the network of one implementation is wired and exercised
 * exactly like the other's.
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * const pick = Math.floor(random() * 10)
 * ```
 */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** A whole number in [0, bound) from a PRNG. */
export const randomIndex = (random: () => number, bound: number): number => Math.floor(random() * bound)

/** Milliseconds of a `process.cpuUsage` delta (user + system). */
export const cpuMillis = (usage: NodeJS.CpuUsage): number => (usage.user + usage.system) / 1000

/** Bytes as MiB. */
export const mebibytes = (bytes: number): number => bytes / 2 ** 20

/**
 * A table note with the machine's load when called: network suites share
 * the CPUs with whatever else runs, and their timings move with it.
 */
export const loadNote = (): string => {
  const [one, five] = os.loadavg()
  return `load average when the suite started: ${one.toFixed(1)} (1 min), ${five.toFixed(1)} (5 min) on ${os.availableParallelism()} CPUs`
}
