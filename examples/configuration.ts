/**
 * Configuration Guide: `DHTOptions` objects, the functional `DHTOption`
 * pattern, and bootstrap peers.
 *
 * Options are plain data. Nothing is checked until a DHT is built from
 * them (`new IpfsDHT(...).start()`, `DHT.new_`) or they are resolved with
 * `resolveOptions`, which reports a bad value as an `InvalidOptionError`
 * naming its field. Durations are milliseconds, strings such as
 * `"15 seconds"`, or Effect `Duration`s.
 *
 * @module
 */
import {
  bootstrapPeers,
  bucketSize,
  concurrency,
  DHT,
  DHTMode,
  type DHTOption,
  type DHTOptions,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  enableOptimisticProvide,
  IpfsDHT,
  maxDhtMessageRetries,
  mode,
  optimisticProvideJobsPoolSize,
  type PeerInfoInput,
  type ProviderStore,
  resiliency,
  type Validator,
  validator
} from "@effect-kad/dht"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import type { Libp2p } from "libp2p"

/** Every field of the guide's `DHTOptions` class, set to the values this SDK uses by default. */
export const guideOptionsReference: DHTOptions = {
  mode: DHTMode.auto, // client / server / auto
  bucketSize: 20, // k
  concurrency: 10, // alpha: requests in flight per lookup
  resiliency: 3, // beta: closest peers that must answer
  provideValidity: "48 hours", // provider record TTL
  providerAddrTTL: "24 hours", // provider address TTL
  autoRefresh: true, // refresh the routing table periodically
  bootstrapPeers: [], // multiaddrs ending in /p2p/<id>, or { id, multiaddrs }
  maxRetryAttempts: 3, // attempts per DHT message, the first included
  retryInitialBackoff: "500 millis",
  retryMaxBackoff: "30 seconds",
  retryBackoffFactor: 2,
  filterLocalhostInResponses: true // keep 127.0.0.1 addresses out of answers to remote peers
}

/** The guide's client node (mobile, resource-constrained). */
export const clientNodeOptions: DHTOptions = {
  mode: DHTMode.client, // query only; never answers, never enters routing tables
  bucketSize: 15, // smaller routing table
  concurrency: 5, // lower concurrency
  resiliency: 2, // fewer required responses
  maxRetryAttempts: 2 // fewer retries
}

/** The guide's server node (bootstrap, infrastructure). */
export const serverNodeOptions: DHTOptions = {
  mode: DHTMode.server, // always answer queries
  bucketSize: 30, // larger routing table
  concurrency: 15, // higher concurrency
  resiliency: 5, // more required responses
  autoRefresh: true // keep the routing table fresh
}

/** `new IpfsDHT` with the client options; `start()` it before use. */
export const createClientNode = (host: Libp2p, providerStore: ProviderStore, appValidator?: Validator): IpfsDHT =>
  new IpfsDHT({ host, providerStore, options: clientNodeOptions, validator: appValidator })

/** `new IpfsDHT` with the server options; `start()` it before use. */
export const createServerNode = (host: Libp2p, providerStore: ProviderStore, appValidator?: Validator): IpfsDHT =>
  new IpfsDHT({ host, providerStore, options: serverNodeOptions, validator: appValidator })

/**
 * The guide's functional configuration: a list of `DHTOption`s. Lists are
 * ordinary arrays (spread them, share a base list); a later option wins
 * over an earlier one that sets the same field.
 */
export const functionalOptions = (peers: ReadonlyArray<PeerInfoInput>): Array<DHTOption> => [
  mode(DHTMode.auto),
  bucketSize(25),
  concurrency(12),
  resiliency(4),

  // bootstrap configuration: { id, multiaddrs } pairs, the guide's AddrInfo
  bootstrapPeers(peers),

  // performance tuning
  maxDhtMessageRetries(5),
  dhtMessageRetryInitialBackoff("250 millis"),
  dhtMessageRetryMaxBackoff("15 seconds"),

  // advanced features
  enableOptimisticProvide(),
  optimisticProvideJobsPoolSize(100)
]

/** `DHT.new_` with {@link functionalOptions}: resolves once the DHT is built and started. */
export const createWithFunctionalOptions = (
  host: Libp2p,
  providerStore: ProviderStore,
  peers: ReadonlyArray<PeerInfoInput>,
  appValidator?: Validator
): Promise<IpfsDHT> =>
  DHT.new_(host, providerStore, [
    ...functionalOptions(peers),
    ...(appValidator === undefined ? [] : [validator(appValidator)])
  ])

/** A host as the guide's `AddrInfo`: its ID and its addresses. */
export const addrInfoOf = (host: Libp2p): PeerInfoInput => ({ id: host.peerId, multiaddrs: host.getMultiaddrs() })

/**
 * Bootstrap method 1, via `DHTOptions`: the public IPFS bootstrap peers as
 * multiaddrs ending in `/p2p/<peer id>`. Data only here: these examples
 * never dial the public network.
 */
export const publicBootstrapViaOptions: DHTOptions = {
  bootstrapPeers: [
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.236.179.241/tcp/4001/p2p/QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM"
  ]
}

/** Bootstrap method 2, via functional options: a peer ID and its addresses. Data only, like method 1. */
export const publicBootstrapViaCombinators: ReadonlyArray<DHTOption> = [
  bootstrapPeers([
    {
      id: peerIdFromString("QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"),
      multiaddrs: [multiaddr("/ip4/104.131.131.82/tcp/4001")]
    }
  ])
]

/** Method 1 against peers you run: their `/p2p/` multiaddrs in `DHTOptions.bootstrapPeers`. Started and bootstrapped. */
export const joinViaOptions = async (
  host: Libp2p,
  addresses: ReadonlyArray<string>,
  appValidator?: Validator
): Promise<IpfsDHT> => {
  const dht = new IpfsDHT({ host, validator: appValidator, options: { bootstrapPeers: addresses } })
  await dht.start()
  return bootstrapOrClose(dht)
}

/** Method 2 against peers you run: `bootstrapPeers([{ id, multiaddrs }])`. Started and bootstrapped. */
export const joinViaCombinators = async (
  host: Libp2p,
  peers: ReadonlyArray<PeerInfoInput>,
  appValidator?: Validator
): Promise<IpfsDHT> => {
  const dht = await DHT.new_(host, undefined, [
    bootstrapPeers(peers),
    ...(appValidator === undefined ? [] : [validator(appValidator)])
  ])
  return bootstrapOrClose(dht)
}

/** Bootstraps a started DHT; closes it when that fails, so a failed join leaves nothing running. */
const bootstrapOrClose = async (dht: IpfsDHT): Promise<IpfsDHT> => {
  try {
    await dht.bootstrap()
    return dht
  } catch (error) {
    await dht.close()
    throw error
  }
}
