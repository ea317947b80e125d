/**
 * `kad-dht node`: a long-lived DHT node with a persistent identity and
 * durable stores, which reports its routing-table health periodically and
 * shuts down cleanly on SIGINT/SIGTERM.
 *
 * @module
 */
import { Command, Options } from "@effect/cli"
import { FileSystem, Path } from "@effect/platform"
import { DatastoreProviderStore, type DHTMode, type ProviderStore } from "@effect-kad/dht"
import { LevelDatastore } from "datastore-level"
import { Duration, Effect, type Scope } from "effect"
import { type CliError, reasonOf, StartupError } from "../errors.js"
import { dialableAddresses, makeHost } from "../host.js"
import { ephemeralIdentity, IDENTITY_FILE, type Identity, loadOrCreateIdentity } from "../identity.js"
import { call, type KadNode, makeKadNode } from "../kad-node.js"
import { parseMetricsAddress, prometheusFor, serveMetrics } from "../metrics-server.js"
import { emit, reported } from "../output.js"
import { bootstrapOption, jsonOption } from "./common.js"

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
  /** `HOST:PORT` to serve Prometheus metrics on; none when undefined. */
  readonly metrics?: string
}

/** Listen address when none is given: loopback only, any free port. */
export const DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"

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
      listen: settings.listen.length > 0 ? settings.listen : [DEFAULT_LISTEN],
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

    const node = yield* makeKadNode({ host, mode: settings.mode, bootstrap: settings.bootstrap, ...stores })
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

/** The `node` command. */
export const nodeCommand = Command.make(
  "node",
  {
    listen: Options.text("listen").pipe(
      Options.withAlias("l"),
      Options.withDescription(`A multiaddr to listen on (repeatable); default ${DEFAULT_LISTEN}.`),
      Options.repeated
    ),
    bootstrap: bootstrapOption,
    mode: Options.choice("mode", ["server", "client", "auto"]).pipe(
      Options.withDescription("server answers queries, client only asks, auto follows reachability."),
      Options.withDefault("server" as const)
    ),
    dataDir: Options.directory("data-dir").pipe(
      Options.withDescription("Where the identity key and the record and provider databases live."),
      Options.withDefault("./.kad-dht")
    ),
    memory: Options.boolean("memory").pipe(
      Options.withDescription("Keep records in memory (lost on exit) and use a fresh identity unless --key-file.")
    ),
    keyFile: Options.file("key-file").pipe(
      Options.withDescription("The identity key file (created if missing); default <data-dir>/identity.key."),
      Options.optional
    ),
    healthInterval: Options.integer("health-interval").pipe(
      Options.withDescription("Seconds between health reports; 0 turns them off."),
      Options.withDefault(30)
    ),
    json: jsonOption,
    metrics: Options.text("metrics").pipe(
      Options.withDescription("Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464."),
      Options.optional
    )
  },
  (options) =>
    reported(
      options.json,
      Effect.scoped(
        runNode({
          listen: options.listen,
          bootstrap: options.bootstrap,
          mode: options.mode,
          dataDir: options.dataDir,
          memory: options.memory,
          keyFile: options.keyFile._tag === "Some" ? options.keyFile.value : undefined,
          healthIntervalSeconds: Math.max(0, options.healthInterval),
          json: options.json,
          ...(options.metrics._tag === "Some" ? { metrics: options.metrics.value } : {})
        })
      ).pipe(
        // after every finalizer of the scope ran: the DHT, the stores and the host are closed
        Effect.onInterrupt(() =>
          emit(
            options.json,
            () => ({ event: "stopped" }),
            () => "stopped"
          )
        )
      )
    )
).pipe(Command.withDescription("Run a long-lived DHT node until Ctrl-C (SIGINT) or SIGTERM."))
