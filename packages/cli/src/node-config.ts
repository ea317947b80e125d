/**
 * `kad-dht node --config FILE`: the node's settings as a JSON file, for
 * running it as a daemon. Every field is optional; a flag given on the
 * command line wins over the file, and the file over the defaults.
 *
 * ```json
 * {
 *   "listen": ["/ip4/0.0.0.0/tcp/4001"],
 *   "bootstrap": ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."],
 *   "mode": "server",
 *   "dataDir": "/var/lib/kad-dht",
 *   "healthInterval": 60,
 *   "metrics": "127.0.0.1:9464",
 *   "logFormat": "json"
 * }
 * ```
 *
 * @module
 */
import { readFile } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { reasonOf, StartupError } from "./errors.js"

/** How the DHT's own log lines (stderr) are written. */
export type LogFormat = "text" | "json"

const NonEmpty = Schema.String.pipe(Schema.minLength(1))

/** The fields of a config file. */
export const NodeConfigFile = Schema.Struct({
  listen: Schema.optional(Schema.Array(NonEmpty)),
  ws: Schema.optional(Schema.Boolean),
  bootstrap: Schema.optional(Schema.Array(NonEmpty)),
  mode: Schema.optional(Schema.Literal("server", "client", "auto", "autoServer")),
  dataDir: Schema.optional(NonEmpty),
  memory: Schema.optional(Schema.Boolean),
  keyFile: Schema.optional(NonEmpty),
  healthInterval: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  metrics: Schema.optional(NonEmpty),
  logFormat: Schema.optional(Schema.Literal("text", "json")),
  json: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "NodeConfigFile" })

/** A decoded config file. */
export type NodeConfigFile = typeof NodeConfigFile.Type

const decode = Schema.decodeUnknownEither(Schema.parseJson(NodeConfigFile), { onExcessProperty: "error" })

/**
 * Reads and validates a config file; a missing file, bad JSON, an unknown
 * field or a wrong value fail with a {@link StartupError} naming the file
 * and the field.
 *
 * @example
 * ```ts
 * const file = yield* loadNodeConfig("/etc/kad-dht/node.json")
 * ```
 */
export const loadNodeConfig = (path: string): Effect.Effect<NodeConfigFile, StartupError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (cause) => new StartupError({ what: `the config file ${path}`, reason: reasonOf(cause), cause })
    })
    const decoded = decode(text)
    if (Either.isLeft(decoded)) {
      const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
      const reason = issues
        .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
        .join("; ")
      return yield* new StartupError({ what: `the config file ${path}`, reason, cause: decoded.left })
    }
    return decoded.right
  })
