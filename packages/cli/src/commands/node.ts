/**
 * `kad-dht node`: a long-lived DHT node with a persistent identity and
 * durable stores, which reports its routing-table health periodically and
 * shuts down cleanly on SIGINT/SIGTERM.
 *
 * @module
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { DatastoreProviderStore, type DHTMode, type ProviderStore } from "@effect-kad/dht"
import { LevelDatastore } from "datastore-level"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type CliError, reasonOf, StartupError } from "../errors.js"
import { dialableAddresses, isWebSockets, makeHost } from "../host.js"
import { ephemeralIdentity, IDENTITY_FILE, type Identity, loadOrCreateIdentity } from "../identity.js"
import { call, type KadNode, makeKadNode } from "../kad-node.js"
import { parseMetricsAddress, prometheusFor, serveMetrics } from "../metrics-server.js"
import { type LogFormat, loadNodeConfig, type NodeConfigFile } from "../node-config.js"
import { emit, reported } from "../output.js"
import { bootstrapOption, checkPeerAddress, jsonOption } from "./common.js"

/** Settings of {@link runNode}, as the options give them. */
export interface NodeSettings {
  readonly listen: ReadonlyArray<string>
  readonly bootstrap: ReadonlyArray<string>
  readonly mode: DHTMode
  readonly dataDir: string
  readonly memory: boolean
  readonly keyFile: string | undefined
  readonly healthIntervalSeconds: number
  readonly json: boolean
  /** Also listen on {@link DEFAULT_WS_LISTEN}, for browser clients. */
  readonly ws?: boolean
  /** `HOST:PORT` to serve Prometheus metrics on; none when undefined. */
  readonly metrics?: string
  /** How the DHT's log lines on stderr are written; default text (logfmt). */
  readonly logFormat?: LogFormat
}

/** Listen address when none is given: loopback only, any free port. */
export const DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"

/** The WebSockets address `--ws` adds: loopback only, any free port. */
export const DEFAULT_WS_LISTEN = "/ip4/127.0.0.1/tcp/0/ws"

/**
 * The addresses a node listens on: the `--listen` ones (or
 * {@link DEFAULT_LISTEN}), plus {@link DEFAULT_WS_LISTEN} with `--ws`
 * unless a WebSockets address is among them already. A node listening on
 * WebSockets relays for the browsers it serves (see `makeHost`).
 *
 * @example
 * ```ts
 * listenAddresses({ listen: [], ws: true }) // ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"]
 * ```
 */
export const listenAddresses = (settings: Pick<NodeSettings, "listen" | "ws">): Array<string> => {
  const listen = settings.listen.length > 0 ? [...settings.listen] : [DEFAULT_LISTEN]
  if (settings.ws === true && !listen.some(isWebSockets)) listen.push(DEFAULT_WS_LISTEN)
  return listen
}

const openLevel = (location: string): Effect.Effect<LevelDatastore, StartupError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const store = new LevelDatastore(location)
        await store.open()
        return store
      },
      catch: (cause) =>
        new StartupError({
          what: `the datastore at ${location}`,
          // LevelDB locks its directory, and a second node on the same data directory is the usual cause
          reason: `${reasonOf(cause)} (is another node using this data directory?)`,
          cause
        })
    }),
    (store) => Effect.promise(() => store.close())
  )

const closeable = (store: ProviderStore): Effect.Effect<ProviderStore, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.succeed(store), (s) => Effect.promise(() => s.close()))

interface Health {
  readonly routingTableSize: number
  readonly estimatedNetworkSize: number | null
  readonly connections: number
  readonly requestsSent: number
}

const health = (node: KadNode): Effect.Effect<Health, CliError> =>
  Effect.gen(function* () {
    const routingTableSize = yield* call("routingTable.size", () => node.dht.routingTable.size())
    // the estimator has no answer until enough lookups have completed
    const estimate = yield* call("nsEstimator.estimate", () => node.dht.nsEstimator.estimate()).pipe(Effect.option)
    return {
      routingTableSize,
      estimatedNetworkSize: estimate._tag === "Some" ? Math.round(estimate.value) : null,
      connections: node.host.getConnections().length,
      requestsSent: node.requests.sent
    }
  })

/**
 * Runs a node until interrupted. Resources are released in reverse order
 * of acquisition: the DHT first (no more requests served), then the
 * provider store, the datastores and the host.
 */
export const runNode = (
  settings: NodeSettings
): Effect.Effect<never, CliError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { json } = settings
    const dataDir = path.resolve(settings.dataDir)
    const keyFile = settings.keyFile ?? (settings.memory ? undefined : path.join(dataDir, IDENTITY_FILE))
    const identity: Identity =
      keyFile === undefined ? yield* ephemeralIdentity : yield* loadOrCreateIdentity(path.resolve(keyFile))

    const metricsAddress = settings.metrics === undefined ? undefined : yield* parseMetricsAddress(settings.metrics)
    const prometheus = metricsAddress === undefined ? undefined : prometheusFor()
    const host = yield* makeHost({
      listen: listenAddresses(settings),
      privateKey: identity.privateKey,
      ...(prometheus === undefined ? {} : { metrics: prometheus.metrics })
    })

    let stores: { readonly datastore?: LevelDatastore; readonly providerStore?: ProviderStore } = {}
    if (!settings.memory) {
      yield* fs
        .makeDirectory(dataDir, { recursive: true })
        .pipe(
          Effect.mapError(
            (cause) => new StartupError({ what: `the data directory ${dataDir}`, reason: reasonOf(cause), cause })
          )
        )
      const datastore = yield* openLevel(path.join(dataDir, "records"))
      const providerDatastore = yield* openLevel(path.join(dataDir, "providers"))
      const providerStore = yield* closeable(new DatastoreProviderStore(providerDatastore))
      stores = { datastore, providerStore }
    }

    const node = yield* makeKadNode({
      host,
      mode: settings.mode,
      bootstrap: settings.bootstrap,
      ...stores,
      ...(settings.logFormat === undefined ? {} : { logFormat: settings.logFormat })
    })
    if (settings.bootstrap.length > 0) {
      // a node outlives a bad start: refresh and the low-peer fix keep retrying the bootstrap peers
      yield* call("bootstrap", (signal) => node.dht.bootstrap({ signal })).pipe(
        Effect.catchAll((error) =>
          emit(
            json,
            () => ({ event: "warning", message: error.message }),
            () => `warning: ${error.message}`
          )
        )
      )
    }

    // served once the DHT has registered its families, so the first scrape already has them
    const metrics =
      prometheus === undefined || metricsAddress === undefined
        ? undefined
        : yield* serveMetrics(prometheus.registry, metricsAddress)

    const addresses = dialableAddresses(host)
    const peerId = host.peerId.toString()
    const mode = yield* call("mode", () => node.dht.mode())
    const storage = settings.memory ? "memory" : dataDir
    yield* emit(
      json,
      () => ({
        event: "started",
        peerId,
        addresses,
        mode,
        identity: identity.origin,
        storage,
        ...(metrics === undefined ? {} : { metrics })
      }),
      () =>
        [
          `kad-dht node ${peerId}`,
          `  mode: ${mode} (configured: ${settings.mode})`,
          `  identity: ${identity.origin}${keyFile === undefined ? "" : ` (${path.resolve(keyFile)})`}`,
          `  storage: ${storage}`,
          "  listening on:",
          ...addresses.map((addr) => `    ${addr}`),
          ...(metrics === undefined ? [] : [`  metrics: ${metrics}`]),
          "Press Ctrl-C to stop."
        ].join("\n")
    )

    const report = Effect.flatMap(health(node), (h) =>
      emit(
        json,
        () => ({ event: "health", ...h }),
        () =>
          `health: routing table ${h.routingTableSize} peers, network size ≈ ${h.estimatedNetworkSize ?? "unknown"}, ` +
          `${h.connections} connections, ${h.requestsSent} requests sent`
      )
    )
    if (settings.healthIntervalSeconds > 0) {
      const interval = Duration.seconds(settings.healthIntervalSeconds)
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), Effect.ignore(report))))
    }
    return yield* Effect.never
  })

const optionalValue = <A>(option: Option.Option<A>): A | undefined =>
  option._tag === "Some" ? option.value : undefined

/**
 * The settings of one run: flags given on the command line, else the
 * config file's values, else the defaults.
 */
export const resolveSettings = (
  flags: {
    readonly listen: ReadonlyArray<string>
    readonly ws: boolean
    readonly bootstrap: ReadonlyArray<string>
    readonly mode: DHTMode | undefined
    readonly dataDir: string | undefined
    readonly memory: boolean
    readonly keyFile: string | undefined
    readonly healthInterval: number | undefined
    readonly json: boolean
    readonly metrics: string | undefined
    readonly logFormat: LogFormat | undefined
  },
  file: NodeConfigFile
): Effect.Effect<NodeSettings, StartupError> =>
  Effect.gen(function* () {
    const bootstrap =
      flags.bootstrap.length > 0
        ? flags.bootstrap
        : yield* Effect.forEach(file.bootstrap ?? [], (address) =>
            checkPeerAddress(address).pipe(
              Effect.mapError(
                (error) =>
                  new StartupError({
                    what: "the config file",
                    reason: `bootstrap: ${address} must be a multiaddr ending with /p2p/<peer id>`,
                    cause: error
                  })
              )
            )
          )
    const metrics = flags.metrics ?? file.metrics
    const logFormat = flags.logFormat ?? file.logFormat
    const keyFile = flags.keyFile ?? file.keyFile
    return {
      listen: flags.listen.length > 0 ? flags.listen : (file.listen ?? []),
      ws: flags.ws || file.ws === true,
      bootstrap,
      mode: flags.mode ?? file.mode ?? "server",
      dataDir: flags.dataDir ?? file.dataDir ?? DEFAULT_DATA_DIR,
      memory: flags.memory || file.memory === true,
      keyFile,
      healthIntervalSeconds: Math.max(0, flags.healthInterval ?? file.healthInterval ?? DEFAULT_HEALTH_INTERVAL),
      json: flags.json || file.json === true,
      ...(metrics === undefined ? {} : { metrics }),
      ...(logFormat === undefined ? {} : { logFormat })
    } satisfies NodeSettings
  })

/** Where the identity and databases live when neither a flag nor the config file says. */
export const DEFAULT_DATA_DIR = "./.kad-dht"

/** Seconds between health reports when neither a flag nor the config file says. */
export const DEFAULT_HEALTH_INTERVAL = 30

/** The `node` command. */
export const nodeCommand = Command.make(
  "node",
  {
    config: Options.file("config").pipe(
      Options.withDescription(
        "A JSON file with the node's settings (listen, ws, bootstrap, mode, dataDir, memory, keyFile, healthInterval, metrics, logFormat, json); flags win over it."
      ),
      Options.optional
    ),
    listen: Options.text("listen").pipe(
      Options.withAlias("l"),
      Options.withDescription(`A multiaddr to listen on (repeatable); default ${DEFAULT_LISTEN}.`),
      Options.repeated
    ),
    ws: Options.boolean("ws").pipe(
      Options.withDescription(
        `Also listen on WebSockets (${DEFAULT_WS_LISTEN}) and relay for browser clients; or give a /ws address to --listen.`
      )
    ),
    bootstrap: bootstrapOption,
    mode: Options.choice("mode", ["server", "client", "auto", "autoServer"]).pipe(
      Options.withDescription(
        "server answers queries, client only asks, auto serves once reachability is public, autoServer serves unless it is known private (default server)."
      ),
      Options.optional
    ),
    dataDir: Options.directory("data-dir").pipe(
      Options.withDescription(
        `Where the identity key and the record and provider databases live (default ${DEFAULT_DATA_DIR}).`
      ),
      Options.optional
    ),
    memory: Options.boolean("memory").pipe(
      Options.withDescription("Keep records in memory (lost on exit) and use a fresh identity unless --key-file.")
    ),
    keyFile: Options.file("key-file").pipe(
      Options.withDescription("The identity key file (created if missing); default <data-dir>/identity.key."),
      Options.optional
    ),
    healthInterval: Options.integer("health-interval").pipe(
      Options.withDescription(`Seconds between health reports; 0 turns them off (default ${DEFAULT_HEALTH_INTERVAL}).`),
      Options.optional
    ),
    json: jsonOption,
    metrics: Options.text("metrics").pipe(
      Options.withDescription("Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464."),
      Options.optional
    ),
    logFormat: Options.choice("log-format", ["text", "json"]).pipe(
      Options.withDescription("How the DHT's log lines on stderr are written: text (logfmt, default) or json."),
      Options.optional
    )
  },
  (options) => {
    const settings = Effect.flatMap(
      Option.match(options.config, { onNone: () => Effect.succeed({}), onSome: loadNodeConfig }),
      (file) =>
        resolveSettings(
          {
            listen: options.listen,
            ws: options.ws,
            bootstrap: options.bootstrap,
            mode: optionalValue(options.mode),
            dataDir: optionalValue(options.dataDir),
            memory: options.memory,
            keyFile: optionalValue(options.keyFile),
            healthInterval: optionalValue(options.healthInterval),
            json: options.json,
            metrics: optionalValue(options.metrics),
            logFormat: optionalValue(options.logFormat)
          },
          file
        )
    )
    return reported(
      options.json,
      Effect.flatMap(settings, (resolved) =>
        Effect.scoped(runNode(resolved)).pipe(
          // after every finalizer of the scope ran: the DHT (its routing table saved), the stores and the host are closed
          Effect.onInterrupt(() =>
            emit(
              resolved.json,
              () => ({ event: "stopped" }),
              () => "stopped"
            )
          )
        )
      )
    )
  }
).pipe(
  Command.withDescription(
    "Run a long-lived DHT node until Ctrl-C (SIGINT) or SIGTERM, which close the DHT and flush its stores first."
  )
)
