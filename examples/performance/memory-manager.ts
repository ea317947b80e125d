/**
 * Performance: periodic memory management for long-running nodes.
 *
 * The routing table has no trim operation: cap it up front with
 * `maxRoutingTableSize(n)` so it never outgrows its budget. The manager
 * cleans up expired provider records and reports when the table is past a
 * threshold, for the application to act on (restart with a smaller cap,
 * alert).
 *
 * @module
 */
import type { IpfsDHT, ProviderStore } from "@effect-kad/dht"

/** What one cleanup pass did. */
export interface CleanupReport {
  readonly removedProviderRecords: number
  readonly routingTableSize: number
  readonly overThreshold: boolean
}

/** Settings of a {@link DHTMemoryManager}. */
export interface MemoryManagerConfig {
  /** Period of the cleanup (default 30 minutes). */
  readonly intervalMillis?: number
  /** Routing-table size past which `onOversized` is called (default 1000). */
  readonly routingTableThreshold?: number
  /** Called when the table is past the threshold. */
  readonly onOversized?: (size: number) => void
}

/** The guide's `DHTMemoryManager`. */
export class DHTMemoryManager {
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<unknown> | undefined
  private readonly reports: Array<CleanupReport> = []

  constructor(
    readonly dht: IpfsDHT,
    readonly providerStore: ProviderStore,
    private readonly config: MemoryManagerConfig = {}
  ) {}

  /** Starts the periodic cleanup; calling it again has no effect. */
  startMemoryManagement(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(
      () => {
        if (this.running !== undefined) return
        this.running = this.performCleanup()
          .catch(() => undefined) // the next tick tries again
          .finally(() => {
            this.running = undefined
          })
      },
      this.config.intervalMillis ?? 30 * 60 * 1000
    )
  }

  /** One cleanup pass: expired provider records out, routing table measured. */
  async performCleanup(): Promise<CleanupReport> {
    const removedProviderRecords = await this.providerStore.cleanup()
    const routingTableSize = await this.dht.routingTable.size()
    const overThreshold = routingTableSize > (this.config.routingTableThreshold ?? 1000)
    if (overThreshold) this.config.onOversized?.(routingTableSize)
    const report = { removedProviderRecords, routingTableSize, overThreshold }
    this.reports.push(report)
    if (this.reports.length > 100) this.reports.shift()
    return report
  }

  /** The last (up to 100) cleanup reports, oldest first. */
  history(): ReadonlyArray<CleanupReport> {
    return [...this.reports]
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }
}
