/**
 * Operation latency statistics, as the guide's `DHTPerformanceMonitor`:
 * wrap operations, keep the last measurements per operation, read
 * count / average / median / p95 / min / max.
 *
 * @module
 */

/** Latency statistics of one operation, in milliseconds. */
export interface PerformanceStats {
  readonly operation: string
  readonly count: number
  readonly average: number
  readonly median: number
  readonly p95: number
  readonly min: number
  readonly max: number
}

/**
 * Measures operations and keeps a bounded window of their latencies.
 * Failed operations are recorded under `<name>_error`.
 *
 * @example
 * ```ts
 * const monitor = new PerformanceMonitor()
 * const peer = await monitor.measure("findPeer", () => dht.findPeer(id))
 * console.table(monitor.stats())
 * ```
 */
export class PerformanceMonitor {
  private readonly samples = new Map<string, Array<number>>()

  constructor(readonly window = 100) {
    if (!Number.isInteger(window) || window < 1)
      throw new RangeError(`window must be a positive integer, got ${window}`)
  }

  /** Runs `operation`, recording how long it took. */
  async measure<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await operation()
      this.record(name, performance.now() - started)
      return result
    } catch (error) {
      this.record(`${name}_error`, performance.now() - started)
      throw error
    }
  }

  /** Adds one measurement. */
  record(name: string, millis: number): void {
    let list = this.samples.get(name)
    if (list === undefined) {
      list = []
      this.samples.set(name, list)
    }
    list.push(millis)
    if (list.length > this.window) list.splice(0, list.length - this.window)
  }

  /** Statistics of every operation measured so far. */
  stats(): Record<string, PerformanceStats> {
    const out: Record<string, PerformanceStats> = {}
    for (const [operation, list] of this.samples) {
      if (list.length > 0) out[operation] = summarize(operation, list)
    }
    return out
  }
}

/** Count, average, median, p95, min and max of a list of latencies. */
export const summarize = (operation: string, latencies: ReadonlyArray<number>): PerformanceStats => {
  const sorted = [...latencies].sort((a, b) => a - b)
  const count = sorted.length
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    operation,
    count,
    average: count === 0 ? 0 : sum / count,
    median: count === 0 ? 0 : sorted[Math.floor(count / 2)],
    p95: count === 0 ? 0 : sorted[Math.min(count - 1, Math.floor(count * 0.95))],
    min: count === 0 ? 0 : sorted[0],
    max: count === 0 ? 0 : sorted[count - 1]
  }
}
