/**
 * go-libp2p-kad-dht nodes for the operations suite: one go peer process per
 * node (bench/support/go-peer.ts, started with `--bench`: a permissive
 * `/bench/` namespace and a count of the DHT messages it sends), each
 * operation one command over stdin/stdout.
 *
 * The command's round trip (a JSON line each way through a pipe, well under
 * a millisecond on this machine) is part of every timed operation.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import type { Multiaddr } from "@multiformats/multiaddr"
import type { CID } from "multiformats/cid"
import { startGoPeer } from "./go-peer.js"

/** One go node, driven like the js nodes of bench/support/dht-nodes.ts. */
export interface GoBenchNode {
  readonly impl: "go"
  readonly pid: number
  readonly peerId: PeerId
  readonly addresses: ReadonlyArray<Multiaddr>
  /** DHT messages written and DHT streams opened by the node since it started. */
  readonly counts: () => Promise<{ readonly messages: number; readonly streams: number }>
  /** Dials `peer` and waits until identify has finished on the dialer's side. */
  readonly connect: (peer: PeerId, addresses: ReadonlyArray<Multiaddr>) => Promise<void>
  /** Drops every connection to `id` first (go answers from a live connection without a lookup), then looks it up. */
  readonly findPeer: (id: PeerId) => Promise<boolean>
  readonly getClosestPeers: (key: Uint8Array) => Promise<ReadonlyArray<PeerId>>
  readonly provide: (cid: CID) => Promise<void>
  /** A provider lookup run to its end; the providers come back together at its end. */
  readonly findProviders: (cid: CID, onProvider: (id: PeerId) => void) => Promise<void>
  /** A provider lookup that go stops at the first provider (`count` 1); whether it is `provider`. */
  readonly findFirstProvider: (cid: CID, provider: PeerId) => Promise<boolean>
  readonly put: (key: Uint8Array, value: Uint8Array) => Promise<void>
  readonly get: (key: Uint8Array) => Promise<Uint8Array | undefined>
  readonly stop: () => Promise<void>
}

const encode = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")

/** An address without its `/p2p/<id>` suffix: the go peer takes the peer ID separately. */
const bare = (address: Multiaddr): string => address.toString().split("/p2p/")[0]

/** Starts a go node in server mode (routing-table refresh on, as go runs by default). */
export const startGoBenchNode = async (binary: string, log?: (line: string) => void): Promise<GoBenchNode> => {
  const peer = await startGoPeer(binary, ["--bench"], log)
  const { request } = peer
  const providersOf = async (cid: CID, count: number) => {
    const answer = await request("findProviders", { cid: cid.toString(), count })
    return (answer.providers as ReadonlyArray<{ id: string }>).map((p) => peerIdFromString(p.id))
  }
  return {
    impl: "go",
    pid: peer.pid,
    peerId: peer.peerId,
    addresses: peer.addresses,
    counts: async () => {
      const answer = await request("sent")
      return { messages: Number(answer.messages), streams: Number(answer.streams) }
    },
    connect: async (id, addresses) => {
      await request("connect", { peer: id.toString(), addrs: addresses.map(bare) })
    },
    findPeer: async (id) => {
      await request("disconnect", { peer: id.toString() })
      const answer = await request("findPeer", { peer: id.toString() })
      const found = answer.peer as { id: string } | null | undefined
      return found !== null && found !== undefined && found.id === id.toString()
    },
    getClosestPeers: async (key) => {
      const answer = await request("getClosestPeers", { key: encode(key) })
      return (answer.peers as ReadonlyArray<string>).map((id) => peerIdFromString(id))
    },
    provide: async (cid) => {
      await request("provide", { cid: cid.toString() })
    },
    findProviders: async (cid, onProvider) => {
      for (const id of await providersOf(cid, 0)) onProvider(id)
    },
    findFirstProvider: async (cid, provider) => (await providersOf(cid, 1)).some((id) => id.equals(provider)),
    put: async (key, value) => {
      await request("put", { key: encode(key), value: encode(value) })
    },
    get: async (key) => {
      const answer = await request("get", { key: encode(key) })
      return typeof answer.value === "string" ? new Uint8Array(Buffer.from(answer.value, "base64")) : undefined
    },
    stop: peer.stop
  }
}
