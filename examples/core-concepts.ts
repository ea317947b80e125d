/**
 * Core Concepts: reading the routing table, and provider records.
 *
 * @module
 */
import type { IpfsDHT, PeerInfo } from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import type { CID } from "multiformats/cid"

/** The guide's routing table information. */
export const routingTableInfo = async (
  dht: IpfsDHT,
  targetPeerId: PeerId
): Promise<{ readonly tableSize: number; readonly closestPeers: ReadonlyArray<PeerInfo> }> => {
  const tableSize = await dht.routingTable.size()
  const closestPeers = await dht.getClosestPeers(targetPeerId)
  return { tableSize, closestPeers }
}

/**
 * The guide's provider records: announce content, then find who has it
 * (at most 5 providers). `findProvidersAsync` is an async iterable that
 * yields providers as the network answers; nothing runs until it is
 * iterated.
 */
export const providerRecords = async (
  provider: IpfsDHT,
  seeker: IpfsDHT,
  content: CID
): Promise<ReadonlyArray<PeerInfo>> => {
  await provider.provide(content, true)
  const providers = seeker.findProvidersAsync(content, 5)
  const found: Array<PeerInfo> = []
  for await (const p of providers) found.push(p)
  return found
}
