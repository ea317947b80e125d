/**
 * The DHT as a js-libp2p service:
 * `createLibp2p({ services: { dht: kadDHT([mode(DHTMode.server)]) } })`.
 * It implements libp2p's `ContentRouting` and `PeerRouting`, so
 * `libp2p.contentRouting.provide(cid)` and `libp2p.peerRouting.findPeer(id)`
 * go through it.
 *
 * @module
 */

import { type Libp2pNetwork, NotFoundError, type PeerInfo } from "@effect-kad/core"
import {
  type AbortOptions,
  type ContentRouting,
  contentRoutingSymbol,
  type PeerInfo as Libp2pPeerInfo,
  type PeerId,
  type PeerRouting,
  type Provider,
  peerRoutingSymbol,
  type RoutingOptions,
  type Startable,
  serviceCapabilities,
  serviceDependencies
} from "@libp2p/interface"
import type { CID } from "multiformats/cid"
import type { OptionsInput } from "./dht.js"
import { IpfsDHT } from "./ipfs-dht.js"

const toLibp2p = (peer: PeerInfo): Libp2pPeerInfo => ({ id: peer.id, multiaddrs: [...peer.multiaddrs] })

/** The service object js-libp2p holds under `services.dht`. */
export class KadDHTService implements Startable {
  readonly dht: IpfsDHT
  readonly [Symbol.toStringTag] = "@effect-kad/dht"
  readonly [serviceCapabilities]: Array<string> = ["@libp2p/content-routing", "@libp2p/peer-routing"]
  readonly [serviceDependencies]: Array<string> = ["@libp2p/identify"]

  constructor(components: Libp2pNetwork.Libp2pComponentsLike, options?: OptionsInput) {
    this.dht = new IpfsDHT({ host: components, options })
  }

  async start(): Promise<void> {
    await this.dht.start()
  }

  async stop(): Promise<void> {
    await this.dht.close()
  }

  readonly [contentRoutingSymbol]: ContentRouting = {
    provide: (cid: CID, options?: RoutingOptions) => this.dht.provide(cid, true, options),
    cancelReprovide: async (key: CID, options?: RoutingOptions) => {
      // records already announced expire by themselves once nobody reprovides them
      await this.dht.stopProviding(key, options)
    },
    findProviders: (cid: CID, options?: RoutingOptions): AsyncIterable<Provider> => {
      const providers = this.dht.findProvidersAsync(cid, 0, options)
      return (async function* () {
        for await (const peer of providers) yield { ...toLibp2p(peer), routing: "kad-dht" }
      })()
    },
    put: (key: Uint8Array, value: Uint8Array, options?: RoutingOptions) => this.dht.putValue(key, value, options),
    get: async (key: Uint8Array, options?: RoutingOptions) => {
      const value = await this.dht.getValue(key, options)
      if (value === null) throw new NotFoundError({ key, what: "value" })
      return value
    }
  }

  readonly [peerRoutingSymbol]: PeerRouting = {
    findPeer: async (peerId: PeerId, options?: AbortOptions) => {
      const found = await this.dht.findPeer(peerId, options)
      if (found === null) throw new NotFoundError({ key: peerId.toMultihash().bytes, what: "peer" })
      return toLibp2p(found)
    },
    getClosestPeers: (key: Uint8Array, options?: RoutingOptions): AsyncIterable<Libp2pPeerInfo> => {
      const dht = this.dht
      return (async function* () {
        for (const peer of await dht.getClosestPeers(key, options)) yield toLibp2p(peer)
      })()
    }
  }
}

/**
 * A js-libp2p service factory for this DHT.
 *
 * Give the node the `ping()` service too when it should join networks of
 * `@libp2p/kad-dht` nodes: they check new contacts with libp2p ping before
 * admitting them to their routing tables.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   services: { identify: identify(), dht: kadDHT([mode(DHTMode.server), bucketSize(20)]) }
 * })
 * await node.contentRouting.provide(cid)
 * ```
 */
export const kadDHT =
  (options?: OptionsInput) =>
  (components: Libp2pNetwork.Libp2pComponentsLike): KadDHTService =>
    new KadDHTService(components, options)
