/**
 * Performance: the high-performance server configuration.
 *
 * @module
 */
import {
  type BootstrapPeerInput,
  bootstrapPeers,
  bucketSize,
  concurrency,
  DHT,
  DHTMode,
  type DHTOption,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  enableOptimisticProvide,
  type IpfsDHT,
  lookupCheckConcurrency,
  maxDhtMessageRetries,
  mode,
  optimisticProvideJobsPoolSize,
  type ProviderStore,
  resiliency
} from "@effect-kad/dht"
import type { Libp2p } from "libp2p"

/** The guide's `HighPerformanceDHT`. */
export const HighPerformanceDHT = {
  serverConfig: [
    mode(DHTMode.server),
    bucketSize(50), // large routing table
    concurrency(25), // high concurrency
    resiliency(10), // thorough queries
    lookupCheckConcurrency(1024), // admit many candidates to the table at once

    // optimistic provide for better performance
    enableOptimisticProvide(),
    optimisticProvideJobsPoolSize(500),

    // aggressive retry strategy
    maxDhtMessageRetries(7),
    dhtMessageRetryInitialBackoff("50 millis"),
    dhtMessageRetryMaxBackoff("60 seconds"),
    dhtMessageRetryBackoffFactor(1.5)
  ] as ReadonlyArray<DHTOption>,

  /** Builds the DHT and bootstraps it with a refresh every 2 minutes; `close()` stops the refresh too. */
  async create(
    host: Libp2p,
    store: ProviderStore,
    bootstrap: ReadonlyArray<BootstrapPeerInput>,
    appOptions: ReadonlyArray<DHTOption> = []
  ): Promise<IpfsDHT> {
    const dht = await DHT.new_(host, store, [
      ...HighPerformanceDHT.serverConfig,
      bootstrapPeers(bootstrap),
      ...appOptions
    ])
    // continuous bootstrap with frequent refresh
    try {
      await dht.bootstrap({ quickConnectOnly: false, periodicRefreshInterval: "2 minutes" })
    } catch (error) {
      await dht.close()
      throw error
    }
    return dht
  }
} as const
