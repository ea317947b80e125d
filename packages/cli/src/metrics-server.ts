/**
 * `kad-dht node --metrics HOST:PORT`: the node's libp2p metrics, the DHT's
 * among them, served as Prometheus text at `http://HOST:PORT/metrics` for
 * the life of the node.
 *
 * @module
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { prometheusMetrics } from "@libp2p/prometheus-metrics"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Registry } from "prom-client"
import { reasonOf, StartupError } from "./errors.js"

/** Where the metrics are served. */
export interface MetricsAddress {
  readonly host: string
  readonly port: number
}

/**
 * Parses `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `localhost:0`; port 0
 * takes a free one).
 *
 * @example
 * ```ts
 * const address = yield* parseMetricsAddress("127.0.0.1:9464")
 * ```
 */
export const parseMetricsAddress = (text: string): Effect.Effect<MetricsAddress, StartupError> => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim())
  const port = match === null ? Number.NaN : Number(match[3])
  if (match === null || port > 65_535) {
    return Effect.fail(
      new StartupError({
        what: "the metrics server",
        reason: `--metrics wants HOST:PORT such as 127.0.0.1:9464, got "${text}"`
      })
    )
  }
  return Effect.succeed({ host: match[1] ?? match[2]!, port })
}

/** A Prometheus registry of its own for one node, and the libp2p `metrics` option that fills it. */
export const prometheusFor = () => {
  const registry = new Registry()
  // process metrics (CPU, memory, event loop) come along, as with any prom-client exporter
  return { registry, metrics: prometheusMetrics({ registry, preserveExistingMetrics: true }) }
}

/**
 * Serves `registry` at `/metrics` until the scope closes; answers the URL
 * it listens on.
 *
 * @example
 * ```ts
 * const url = yield* serveMetrics(registry, { host: "127.0.0.1", port: 9464 })
 * ```
 */
export const serveMetrics = (
  registry: Registry,
  address: MetricsAddress
): Effect.Effect<string, StartupError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<ReturnType<typeof createServer>, StartupError>((resume) => {
      const server = createServer((request, response) => {
        if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
          response.writeHead(404).end("not found; metrics are at /metrics\n")
          return
        }
        registry.metrics().then(
          (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
          (error) => response.writeHead(500).end(`${reasonOf(error)}\n`)
        )
      })
      server.once("error", (cause) =>
        resume(Effect.fail(new StartupError({ what: "the metrics server", reason: reasonOf(cause), cause })))
      )
      server.listen(address.port, address.host, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => {
      const { address: host, port } = server.address() as AddressInfo
      return `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`
    })
  )
