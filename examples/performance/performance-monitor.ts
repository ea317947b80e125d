/**
 * Performance: operation latencies. The SDK's `PerformanceMonitor` keeps
 * the last 100 measurements per operation (failures under `<name>_error`)
 * and computes count, average, median, p95, min and max.
 *
 * @module
 */
import { type IpfsDHT, PerformanceMonitor, type PerformanceStats } from "@effect-kad/dht"

/** The guide's `DHTPerformanceMonitor`. */
export class DHTPerformanceMonitor {
  private readonly monitor = new PerformanceMonitor(100)

  constructor(readonly dht: IpfsDHT) {}

  /** Runs and times one operation. */
  measureOperation<T>(operationName: string, operation: (dht: IpfsDHT) => Promise<T>): Promise<T> {
    return this.monitor.measure(operationName, () => operation(this.dht))
  }

  getPerformanceStats(): Record<string, PerformanceStats> {
    return this.monitor.stats()
  }
}

/** One operation's statistics in the guide's text format. */
export const formatPerformanceStats = (stats: PerformanceStats): string =>
  [
    `${stats.operation}:`,
    `  Count: ${stats.count}`,
    `  Average: ${Math.round(stats.average)}ms`,
    `  Median: ${Math.round(stats.median)}ms`,
    `  95th percentile: ${Math.round(stats.p95)}ms`,
    `  Min: ${Math.round(stats.min)}ms`,
    `  Max: ${Math.round(stats.max)}ms`
  ].join("\n")
