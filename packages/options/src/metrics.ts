/**
 * The metrics option: the prefix of the metric families a DHT registers on
 * its host's libp2p `Metrics`.
 *
 * @module
 */
import * as Schema from "effect/Schema"
import { type DHTOption, withOptions } from "./combinators.js"
import { show } from "./fields.js"

/** A Prometheus metric name prefix: letters, digits, `_` and `:`, not starting with a digit. */
export const MetricsPrefixSchema: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((value) => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(value), {
    message: (issue) => `must be a metric name prefix such as "libp2p_kad_dht", got ${show(issue.actual)}`
  })
)

/**
 * Sets the prefix of the metric families registered on the host's libp2p
 * `Metrics`.
 *
 * @example
 * ```ts
 * const dht = await DHT.new_(host, store, [metricsPrefix("myapp_dht")])
 * ```
 */
export const metricsPrefix = (prefix: string): DHTOption => withOptions({ metricsPrefix: prefix })
