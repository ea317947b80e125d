/**
 * One DHT node of the CLI: an `IpfsDHT` on a libp2p host, with the CLI's
 * validator and a counter of the DHT requests it sends.
 *
 * The counter wraps the node's `Network` service, the single place every
 * outbound DHT request (and fire-and-forget message such as ADD_PROVIDER)
 * goes through, retries included. Answers this node gives to others are
 * not counted.
 *
 * @module
 */
import { Libp2pNetwork, Network, type NetworkShape, type Validator } from "@effect-kad/core"
import {
  bootstrapPeers,
  DHTConfig,
  type DHTMode,
  type DHTOption,
  Dht,
  datastore as datastoreOption,
  hostReachability,
  IpfsDHT,
  Libp2pMetrics,
  mode as modeOption,
  PeerTags,
  type ProviderStore,
  providerStore as providerStoreOption,
  validator as validatorOption
} from "@effect-kad/dht"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import type { Datastore } from "interface-datastore"
import { OperationError, reasonOf, StartupError } from "./errors.js"
import type { Host } from "./host.js"
import { cliNodeValidator } from "./values.js"

/** Counts the DHT requests a node sends. */
export class RequestCounter {
  private count = 0

  /** Requests sent since the node started. */
  get sent(): number {
    return this.count
  }

  /** Records one request. */
  increment(): void {
    this.count++
  }
}

/** The network with every `request` and `send` counted; everything else passes through. */
export const countingNetwork = (network: NetworkShape, counter: RequestCounter): NetworkShape => ({
  ...network,
  request: (peer, message, options) =>
    Effect.suspend(() => {
      counter.increment()
      return network.request(peer, message, options)
    }),
  send: (peer, message, options) =>
    Effect.suspend(() => {
      counter.increment()
      return network.send(peer, message, options)
    })
})

/**
 * The DHT's own log lines (mode changes, refresh trouble) go to stderr, so
 * stdout stays results only: logfmt text, or one JSON object per line.
 */
export const layerStderrLogs = (format: "text" | "json" = "text") =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.withConsoleError(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
  )

/** Settings of {@link makeKadNode}. */
export interface KadNodeOptions {
  readonly host: Host
  readonly mode: DHTMode
  /** Multiaddrs ending in `/p2p/<peer id>` to join the network through. */
  readonly bootstrap: ReadonlyArray<string>
  /** Where value records are kept; in memory when omitted. */
  readonly datastore?: Datastore
  /** Where provider records are kept; in memory when omitted. */
  readonly providerStore?: ProviderStore
  /** More options, applied last. */
  readonly options?: ReadonlyArray<DHTOption>
  /** Least severe DHT log line printed (on stderr); default `Info`. */
  readonly logLevel?: LogLevel.LogLevel
  /** How DHT log lines are written: logfmt text (default) or one JSON object per line. */
  readonly logFormat?: "text" | "json"
}

/** A started node. */
export interface KadNode {
  readonly host: Host
  readonly dht: IpfsDHT
  readonly requests: RequestCounter
  /** The validator it stores records with: `/pk`, `/ipns` and `/cli`. */
  readonly validator: Validator & { namespaces(): Array<string> }
}

/**
 * Starts an `IpfsDHT` on `host` and closes it when the scope closes. The
 * host and the stores belong to the caller, who releases them after the
 * DHT (acquire them first in the same scope).
 *
 * @example
 * ```ts
 * const host = yield* makeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] })
 * const node = yield* makeKadNode({ host, mode: "server", bootstrap: [] })
 * yield* call("putValue", (signal) => node.dht.putValue("/cli/a", bytes, { signal }))
 * ```
 */
export const makeKadNode = (options: KadNodeOptions): Effect.Effect<KadNode, StartupError, Scope.Scope> => {
  const validator = cliNodeValidator()
  const requests = new RequestCounter()
  const dhtOptions: Array<DHTOption> = [modeOption(options.mode), validatorOption(validator)]
  if (options.bootstrap.length > 0) dhtOptions.push(bootstrapPeers(options.bootstrap))
  if (options.datastore !== undefined) dhtOptions.push(datastoreOption(options.datastore))
  if (options.providerStore !== undefined) dhtOptions.push(providerStoreOption(options.providerStore))
  dhtOptions.push(...(options.options ?? []))
  const layer = Layer.unwrapEffect(
    Effect.map(DHTConfig.fromOptions(dhtOptions), (config) => {
      const network = Layer.effect(
        Network,
        Effect.map(Network, (network) => countingNetwork(network, requests))
      ).pipe(
        Layer.provide(
          Libp2pNetwork.layer(options.host, {
            protocol: DHTConfig.protocol(config),
            requestTimeoutMillis: Duration.toMillis(config.requestTimeout)
          })
        )
      )
      // as Dht.layer does for any host: connection-manager tags, and the DHT's metrics on the host's
      const operated = Layer.merge(
        PeerTags.layer(options.host.peerStore, { closeCount: config.bucketSize }),
        Libp2pMetrics.layer(options.host, config.metricsPrefix)
      )
      return operated.pipe(
        Layer.provideMerge(Dht.layerWith(config, network, hostReachability(options.host))),
        Layer.provideMerge(
          Layer.merge(layerStderrLogs(options.logFormat), Logger.minimumLogLevel(options.logLevel ?? LogLevel.Info))
        )
      )
    })
  )
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dht = new IpfsDHT({ host: options.host }, layer)
        await dht.start()
        return dht
      },
      catch: (cause) => new StartupError({ what: "the DHT", reason: reasonOf(cause), cause })
    }),
    (dht) => Effect.promise(() => dht.close())
  ).pipe(Effect.map((dht): KadNode => ({ host: options.host, dht, requests, validator })))
}

/**
 * Runs one promise-returning DHT call as an Effect: interrupting the
 * Effect aborts the call, and a rejection becomes an {@link OperationError}.
 */
export const call = <A>(
  operation: string,
  run: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, OperationError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new OperationError({ operation, reason: reasonOf(cause), cause })
  })
