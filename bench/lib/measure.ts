/**
 * Timing helpers: warm-up runs, several timed runs, medians.
 *
 * Rates are measured over runs long enough (a minimum time and a minimum
 * number of operations) that timer resolution and a single GC pause do not
 * dominate, and reported as the median of the timed runs, which is robust
 * to the odd slow run on a shared machine.
 *
 * @module
 */

/** A measured rate: the median of the timed runs and their spread. */
export interface Measurement {
  /** Operations per second, median over the timed runs. */
  readonly median: number
  readonly min: number
  readonly max: number
  /** Every timed run's rate, in run order. */
  readonly samples: ReadonlyArray<number>
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new RangeError("median of no values")
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** How many runs to make. */
export interface RunPlan {
  /** Untimed runs first, so the JIT has compiled the hot paths. */
  readonly warmup: number
  /** Timed runs; the median of their rates is reported. */
  readonly iterations: number
}

/**
 * Calls `run` `warmup + iterations` times; each call returns the rate it
 * achieved (ops/s). Reports the timed calls.
 *
 * @example
 * ```ts
 * const inserts = await measure(() => {
 *   const t = performance.now()
 *   for (const p of peers) table.add(p)
 *   return peers.length / ((performance.now() - t) / 1000)
 * }, { warmup: 1, iterations: 5 })
 * ```
 */
export const measure = async (run: () => number | Promise<number>, plan: RunPlan): Promise<Measurement> => {
  for (let i = 0; i < plan.warmup; i++) await run()
  const samples: Array<number> = []
  for (let i = 0; i < plan.iterations; i++) samples.push(await run())
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples }
}

/** How long one rate sample runs. */
export interface RateBounds {
  /** Keep going at least this long. */
  readonly minMillis: number
  /** And for at least this many operations. */
  readonly minOps: number
}

/**
 * Ops per second of a synchronous operation: calls `op(i)` with i = 0, 1,
 * … until both bounds are met. The result of `op` is kept in a sink so the
 * JIT cannot drop the work.
 */
export const rateSync = (op: (i: number) => unknown, bounds: RateBounds): number => {
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  while (ops < bounds.minOps || elapsed < bounds.minMillis) {
    sink = op(ops)
    ops++
    elapsed = performance.now() - start
  }
  return (ops * 1000) / elapsed
}

/** {@link rateSync} for an operation that returns a promise. */
export const rateAsync = async (op: (i: number) => Promise<unknown>, bounds: RateBounds): Promise<number> => {
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  while (ops < bounds.minOps || elapsed < bounds.minMillis) {
    sink = await op(ops)
    ops++
    elapsed = performance.now() - start
  }
  return (ops * 1000) / elapsed
}

/** Ops per second of a run of `count` operations that took `millis`. */
export const perSecond = (count: number, millis: number): number => (count * 1000) / millis

/** Operations done by one batch and the milliseconds they took, its set-up excluded. */
export interface Batch {
  readonly ops: number
  readonly millis: number
}

/**
 * Ops per second of a batch operation (such as filling a fresh table):
 * repeats `run` until the timed parts add up to `bounds.minMillis` and the
 * operations to `bounds.minOps`, so a batch of a few milliseconds is not
 * judged on one noisy run.
 */
export const rateOfBatches = async (run: () => Batch | Promise<Batch>, bounds: RateBounds): Promise<number> => {
  let ops = 0
  let millis = 0
  while (ops === 0 || ops < bounds.minOps || millis < bounds.minMillis) {
    const batch = await run()
    ops += batch.ops
    millis += batch.millis
  }
  return perSecond(ops, millis)
}

// Results are stored here so the JIT cannot eliminate the work producing them.
let sink: unknown

/** The result of the last measured operation (reading it keeps the sink observable). */
export const lastResult = (): unknown => sink
