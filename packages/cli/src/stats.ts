/**
 * Latency summaries for the demo's results table.
 *
 * @module
 */

/** Count, median, 95th percentile, minimum and maximum of a set of samples. */
export interface LatencySummary {
  readonly count: number
  readonly median: number
  readonly p95: number
  readonly min: number
  readonly max: number
}

/**
 * The `q`-quantile (0 ≤ q ≤ 1) of ascending samples by the nearest-rank
 * method: the smallest sample with at least `q` of all samples at or below
 * it. Nearest rank never invents a value between samples, which is the
 * honest choice for the handful of runs a demo makes.
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5) // 2
 * ```
 */
export const quantile = (ascending: ReadonlyArray<number>, q: number): number => {
  if (ascending.length === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(q * ascending.length))
  return ascending[Math.min(rank, ascending.length) - 1]
}

/**
 * Summarises samples in any order; every field is `NaN` when there are none.
 *
 * @example
 * ```ts
 * summarize([30, 10, 20]).median // 20
 * ```
 */
export const summarize = (samples: ReadonlyArray<number>): LatencySummary => {
  const ascending = [...samples].sort((a, b) => a - b)
  return {
    count: ascending.length,
    median: quantile(ascending, 0.5),
    p95: quantile(ascending, 0.95),
    min: ascending.length === 0 ? Number.NaN : ascending[0],
    max: ascending.length === 0 ? Number.NaN : ascending[ascending.length - 1]
  }
}
