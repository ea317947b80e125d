/**
 * Debugging: the guide's health check. `checkHealth` (from the SDK) looks
 * at the routing table, looks the node itself up and round-trips a value
 * under `/health/`; failures are collected into the report, not thrown.
 * The round trip needs a validator for the `health` namespace on this node
 * and on the peers that store the value.
 *
 * @module
 */
import { checkHealth, formatHealthReport, type HealthReport, type IpfsDHT, type Validator } from "@effect-kad/dht"
import { textValidator } from "../quick-start.js"

/** The validator for `/health/` keys: the check writes the text `test-value`. */
export const healthValidator: Validator = textValidator

/** The guide's `DHTHealthChecker`. */
export class DHTHealthChecker {
  constructor(
    readonly dht: IpfsDHT,
    private readonly timeoutMillis = 10_000
  ) {}

  checkHealth(): Promise<HealthReport> {
    return checkHealth(this.dht, { namespace: "/health", timeoutMillis: this.timeoutMillis })
  }

  /** The report in the guide's text format. */
  async report(): Promise<string> {
    return formatHealthReport(await this.checkHealth())
  }
}
