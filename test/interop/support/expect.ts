/**
 * Ground truth for lookups, computed here with node:crypto rather than
 * with either DHT's own code: Kademlia IDs are SHA-256 of the key (of the
 * multihash for a peer) and closeness is XOR distance.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())

const compareDistance = (a: Uint8Array, b: Uint8Array, target: Uint8Array): number => {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  return 0
}

/** `peers` ordered from closest to farthest from `key` (raw key bytes, as passed to getClosestPeers). */
export const byDistance = (key: Uint8Array, peers: ReadonlyArray<PeerId>): Array<PeerId> => {
  const target = sha256(key)
  const ids = new Map(peers.map((p) => [p.toString(), sha256(p.toMultihash().bytes)]))
  return [...peers].sort((a, b) => compareDistance(ids.get(a.toString())!, ids.get(b.toString())!, target))
}

/** Peer IDs as sorted strings, for set comparison in assertions. */
export const idSet = (peers: ReadonlyArray<PeerId>): Array<string> => peers.map((p) => p.toString()).sort()

/** A fresh random lookup key. */
export const randomKey = (): Uint8Array => new Uint8Array(randomBytes(32))

/** The TCP ports of addresses, sorted, so addresses from different sources compare without `/p2p` suffixes. */
export const tcpPorts = (addrs: ReadonlyArray<Multiaddr>): Array<string> =>
  [
    ...new Set(
      addrs.flatMap((addr) => {
        const components = addr.getComponents()
        const ip = components.find((c) => c.name === "ip4")?.value
        const port = components.find((c) => c.name === "tcp")?.value
        return ip === undefined || port === undefined ? [] : [`${ip}:${port}`]
      })
    )
  ].sort()
