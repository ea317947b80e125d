/**
 * The guide's integration test: two real nodes on 127.0.0.1, the second
 * bootstrapping from the first, then finding it.
 *
 * @module
 */
import { DHTMode, IpfsDHT, MemoryProviderStore } from "@effect-kad/dht"
import { bootstrapAddressOf, createLibp2pHost } from "../host.js"

/** What the second node found when it looked the first one up. */
export interface TwoNodeResult {
  readonly expected: string
  readonly found: string | null
  readonly addresses: ReadonlyArray<string>
}

/** Runs the scenario and cleans up after itself (DHTs first, then hosts). */
export const peerDiscoveryBetweenTwoNodes = async (): Promise<TwoNodeResult> => {
  const node1 = await createLibp2pHost()
  const node2 = await createLibp2pHost()
  const dht1 = new IpfsDHT({
    host: node1,
    providerStore: new MemoryProviderStore(),
    options: { mode: DHTMode.server }
  })
  const dht2 = new IpfsDHT({
    host: node2,
    providerStore: new MemoryProviderStore(),
    options: { mode: DHTMode.server, bootstrapPeers: [bootstrapAddressOf(node1)] }
  })
  try {
    await dht1.start()
    await dht2.start()
    await dht2.bootstrap()
    const foundPeer = await dht2.findPeer(node1.peerId)
    return {
      expected: node1.peerId.toString(),
      found: foundPeer?.id.toString() ?? null,
      addresses: foundPeer?.multiaddrs.map(String) ?? []
    }
  } finally {
    await dht1.close()
    await dht2.close()
    await node1.stop()
    await node2.stop()
  }
}
