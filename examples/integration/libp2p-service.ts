/**
 * The DHT as a js-libp2p service. `IpfsDHT` implements the routing
 * interfaces; `kadDHT(options)` plugs it into `createLibp2p`, after which
 * `libp2p.peerRouting` and `libp2p.contentRouting` go through it.
 *
 * @module
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import {
  type BootstrapPeerInput,
  bootstrapPeers,
  DHTMode,
  type KadDHTService,
  kadDHT,
  mode,
  type Validator,
  validator
} from "@effect-kad/dht"
import { identify, identifyPush } from "@libp2p/identify"
import type { PeerId } from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"

/** A libp2p node with the DHT under `services.dht`. */
export type Libp2pWithDht = Libp2p<{ identify: unknown; identifyPush: unknown; dht: KadDHTService }>

/** Starts a libp2p node whose peer and content routing is this DHT, and joins the network. */
export const createLibp2pWithDht = async (
  bootstrap: ReadonlyArray<BootstrapPeerInput>,
  appValidator?: Validator
): Promise<Libp2pWithDht> => {
  const node = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      dht: kadDHT([
        mode(DHTMode.server),
        bootstrapPeers(bootstrap),
        ...(appValidator === undefined ? [] : [validator(appValidator)])
      ])
    }
  })
  // the service holds the IpfsDHT: everything of the Promise API is there too
  try {
    await node.services.dht.dht.bootstrap()
  } catch (error) {
    await node.stop()
    throw error
  }
  return node
}

/**
 * Finds a peer and up to `maxProviders` providers of a CID through
 * libp2p's own routing API, which this DHT now serves.
 */
export const findThroughLibp2p = async (
  node: Libp2pWithDht,
  peer: PeerId,
  content: CID,
  maxProviders = 1
): Promise<{ readonly peerAddresses: ReadonlyArray<string>; readonly providers: ReadonlyArray<string> }> => {
  const found = await node.peerRouting.findPeer(peer)
  const providers: Array<string> = []
  for await (const provider of node.contentRouting.findProviders(content)) {
    providers.push(provider.id.toString())
    if (providers.length >= maxProviders) break
  }
  return { peerAddresses: found.multiaddrs.map(String), providers }
}

/** Announces a CID through `libp2p.contentRouting`. */
export const provideThroughLibp2p = (node: Libp2pWithDht, content: CID): Promise<void> =>
  node.contentRouting.provide(content)
