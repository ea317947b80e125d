/**
 * Integration example: a high-performance server node that loads its
 * bootstrap list from a file and keeps its routing table fresh.
 *
 * @module
 */
import { readFile } from "node:fs/promises"
import {
  type BootstrapPeerInput,
  bootstrapPeers,
  bucketSize,
  concurrency,
  DHT,
  DHTMode,
  type DHTOption,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  enableOptimisticProvide,
  type IpfsDHT,
  lookupCheckConcurrency,
  MemoryProviderStore,
  maxDhtMessageRetries,
  mode,
  optimisticProvideJobsPoolSize,
  resiliency
} from "@effect-kad/dht"
import type { Duration } from "effect"
import type { Libp2p } from "libp2p"

/**
 * Reads a bootstrap list from a JSON file: an array of multiaddrs ending in
 * `/p2p/<peer id>`, such as `["/ip4/1.2.3.4/tcp/4001/p2p/12D3KooW..."]`.
 */
export const loadBootstrapPeers = async (path: string | URL): Promise<Array<string>> => {
  const json: unknown = JSON.parse(await readFile(path, "utf8"))
  if (!Array.isArray(json) || !json.every((entry) => typeof entry === "string")) {
    throw new TypeError(`${String(path)}: expected a JSON array of multiaddr strings`)
  }
  return json
}

/** The guide's server options, with the bootstrap list appended. */
export const serverNodeOptions = (bootstrap: ReadonlyArray<BootstrapPeerInput>): Array<DHTOption> => [
  mode(DHTMode.server),
  bucketSize(30), // large routing table
  concurrency(20), // high concurrency
  resiliency(8), // more thorough queries
  lookupCheckConcurrency(512), // admit many candidates to the table at once

  // optimistic provide, for faster provides once the network size is known
  enableOptimisticProvide(),
  optimisticProvideJobsPoolSize(200),

  // aggressive retry strategy
  maxDhtMessageRetries(5),
  dhtMessageRetryInitialBackoff("100 millis"),
  dhtMessageRetryMaxBackoff("30 seconds"),

  bootstrapPeers(bootstrap)
]

/** Settings of {@link ServerNode.initialize}. */
export interface ServerNodeConfig {
  /** Where the bootstrap list comes from: a file, a config service, a constant. */
  readonly loadBootstrapPeers: () => Promise<ReadonlyArray<BootstrapPeerInput>>
  /** Options of your application (validators, protocol prefix), applied after the server options. */
  readonly appOptions?: ReadonlyArray<DHTOption>
  /** Period of the routing-table refresh started by `bootstrap` (default 5 minutes). */
  readonly periodicRefreshInterval?: Duration.DurationInput
}

/** The guide's `ServerNode`. */
export class ServerNode {
  private current: IpfsDHT | undefined

  /** Builds and starts the DHT on `host` and bootstraps it with a periodic refresh. */
  async initialize(host: Libp2p, config: ServerNodeConfig): Promise<IpfsDHT> {
    const bootstrap = await config.loadBootstrapPeers()
    const dht = await DHT.new_(host, new MemoryProviderStore(), [
      ...serverNodeOptions(bootstrap),
      ...(config.appOptions ?? [])
    ])
    this.current = dht
    await dht.start()
    // continuous bootstrap: connect, refresh the table, and refresh it again every interval
    await dht.bootstrap({
      quickConnectOnly: false,
      periodicRefreshInterval: config.periodicRefreshInterval ?? "5 minutes"
    })
    return dht
  }

  /** The running DHT. */
  get dht(): IpfsDHT {
    if (this.current === undefined) throw new Error("ServerNode: call initialize() first")
    return this.current
  }

  /** Closes the DHT (and its refresh timer); the host is the caller's. */
  async shutdown(): Promise<void> {
    await this.current?.close()
    this.current = undefined
  }
}
