/**
 * Integration example: a basic P2P application that announces a service
 * and finds the other peers offering it.
 *
 * @module
 */
import {
  type BootstrapPeerInput,
  DHTMode,
  IpfsDHT,
  MemoryProviderStore,
  type PeerInfo,
  type Validator
} from "@effect-kad/dht"
import type { Libp2p } from "libp2p"
import { createLibp2pHost } from "../host.js"

/** Settings of a {@link BasicP2PApp}. */
export interface BasicP2PAppConfig {
  /** Peers to join the network through. */
  readonly bootstrap: ReadonlyArray<BootstrapPeerInput>
  /** The application's record validator, if it stores values. */
  readonly validator?: Validator
  /** Listen addresses (default: an ephemeral port on 127.0.0.1). */
  readonly listen?: ReadonlyArray<string>
}

/** The guide's `BasicP2PApp`: owns its host, provider store and DHT. */
export class BasicP2PApp {
  private state: { host: Libp2p; dht: IpfsDHT; providerStore: MemoryProviderStore } | undefined

  constructor(private readonly config: BasicP2PAppConfig) {}

  /** Creates the host and the DHT, starts it and joins the network. */
  async initialize(): Promise<void> {
    const host = await createLibp2pHost(this.config.listen)
    const providerStore = new MemoryProviderStore()
    const dht = new IpfsDHT({
      host,
      providerStore,
      validator: this.config.validator,
      options: {
        mode: DHTMode.auto,
        bucketSize: 20,
        concurrency: 10,
        bootstrapPeers: this.config.bootstrap
      }
    })
    this.state = { host, dht, providerStore }
    await dht.start()
    await dht.bootstrap()
  }

  private get running() {
    if (this.state === undefined) throw new Error("BasicP2PApp: call initialize() first")
    return this.state
  }

  /** The DHT, for operations the app does not wrap. */
  get dht(): IpfsDHT {
    return this.running.dht
  }

  /** The peer ID and listen addresses, which the guide prints after start-up. */
  identity(): { readonly peerId: string; readonly addresses: ReadonlyArray<string> } {
    const { host } = this.running
    return { peerId: host.peerId.toString(), addresses: host.getMultiaddrs().map(String) }
  }

  /** Advertises this peer under the service name; resolves to how long the advertisement lasts, in milliseconds. */
  announceService(serviceName: string): Promise<number> {
    return this.running.dht.advertise(serviceName)
  }

  /** Up to 10 peers advertising the service. */
  async findServicePeers(serviceName: string): Promise<Array<PeerInfo>> {
    const peers: Array<PeerInfo> = []
    for await (const peer of this.running.dht.findPeers(serviceName)) {
      peers.push(peer)
      if (peers.length >= 10) break
    }
    return peers
  }

  /** Stops the DHT, then the provider store, then the host. */
  async shutdown(): Promise<void> {
    const state = this.state
    if (state === undefined) return
    this.state = undefined
    await state.dht.close()
    await state.providerStore.close()
    await state.host.stop()
  }
}
