/**
 * The guide's health check: routing-table size, a self lookup and a
 * put/get round trip, collected into a report instead of thrown.
 *
 * @module
 */
import type { IpfsDHT } from "../ipfs-dht.js"

/** Outcome of {@link checkHealth}. */
export interface HealthReport {
  readonly routingTableSize: number
  /** A non-empty routing table. */
  readonly isHealthy: boolean
  readonly canFindSelf: boolean
  readonly canStoreValues: boolean
  readonly errors: ReadonlyArray<string>
}

/** Settings of {@link checkHealth}. */
export interface HealthCheckOptions {
  /** Key namespace the round trip writes under; a validator for it must be registered (default `/health`). */
  readonly namespace?: string
  /** Per-step deadline in milliseconds (default 10 s). */
  readonly timeoutMillis?: number
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Checks a running DHT as the guide's `DHTHealthChecker` does.
 *
 * @example
 * ```ts
 * const report = await checkHealth(dht, { namespace: "/health" })
 * if (!report.isHealthy) console.warn(formatHealthReport(report))
 * ```
 */
export const checkHealth = async (dht: IpfsDHT, options: HealthCheckOptions = {}): Promise<HealthReport> => {
  const timeout = options.timeoutMillis ?? 10_000
  const namespace = options.namespace ?? "/health"
  const errors: Array<string> = []
  const routingTableSize = await dht.routingTable.size()
  let canFindSelf = false
  try {
    canFindSelf = (await dht.findPeer(dht.host().peerId, { timeout })) !== null
  } catch (error) {
    errors.push(`Self-lookup failed: ${describe(error)}`)
  }
  let canStoreValues = false
  try {
    const key = `${namespace}/health-check-${Date.now()}`
    const value = new TextEncoder().encode("test-value")
    await dht.putValue(key, value, { timeout })
    const retrieved = await dht.getValue(key, { timeout, quorum: 1 })
    canStoreValues = retrieved !== null && new TextDecoder().decode(retrieved) === "test-value"
  } catch (error) {
    errors.push(`Value storage test failed: ${describe(error)}`)
  }
  return { routingTableSize, isHealthy: routingTableSize > 0, canFindSelf, canStoreValues, errors }
}

/** The report as the guide prints it. */
export const formatHealthReport = (report: HealthReport): string =>
  [
    "DHT Health Report:",
    `- Routing Table Size: ${report.routingTableSize}`,
    `- Overall Health: ${report.isHealthy ? "HEALTHY" : "UNHEALTHY"}`,
    `- Can Find Self: ${report.canFindSelf ? "YES" : "NO"}`,
    `- Can Store Values: ${report.canStoreValues ? "YES" : "NO"}`,
    `- Errors: ${report.errors.length === 0 ? "None" : report.errors.join(", ")}`
  ].join("\n")
