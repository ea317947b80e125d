import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { describe, expect, it } from "@effect/vitest"
import { identify } from "@libp2p/identify"
import type { PeerId } from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"
import { afterEach } from "vitest"
import { DHTMode, disableAutoRefresh, filterLocalhostInResponses, kadDHT, mode, PeerTags } from "../src/index.js"

const started: Array<Libp2p> = []
afterEach(async () => {
  for (const node of started.splice(0)) await node.stop()
})

interface ConnectionLimits {
  setMaxConnections(max: number): void
}

/** A service that only hands the test the node's connection manager. */
const connectionLimits = () => (components: { connectionManager: ConnectionLimits }) => ({
  limits: components.connectionManager
})

const makeNode = async (withDht: boolean) => {
  const node = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 20, inboundConnectionThreshold: 100 },
    services: {
      identify: identify(),
      limits: connectionLimits(),
      ...(withDht
        ? { dht: kadDHT([mode(DHTMode.server), filterLocalhostInResponses(false), disableAutoRefresh()]) }
        : {})
    }
  })
  started.push(node)
  return node
}

const HOLD = "/libp2p/autonat/1.0.0"

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls `check` every 100 ms, at most `tries` times. */
const eventually = async (check: () => Promise<boolean> | boolean, tries = 80): Promise<boolean> => {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true
    await sleep(100)
  }
  return false
}

const tagsOf = async (node: Libp2p, peer: PeerId) => (await node.peerStore.get(peer)).tags

describe("connection-manager tags", () => {
  it("routing-table peers are tagged, the closest keep-alive, and a low maxConnections prunes the others", async () => {
    const self = await makeNode(true)
    const others = await Promise.all([makeNode(false), makeNode(false), makeNode(false)])
    const dhtPeers = await Promise.all([makeNode(true), makeNode(true), makeNode(true)])
    // Untagged, the pruner would pick the DHT peers: it closes the connections with the fewest streams,
    // inbound and newest first. The others hold streams of a protocol it may close (it names autonat so).
    await self.handle(HOLD, () => undefined)
    for (const other of others) {
      for (let i = 0; i < 4; i++) await other.dialProtocol(self.getMultiaddrs()[0]!, HOLD)
    }
    for (const peer of dhtPeers) await peer.dial(self.getMultiaddrs()[0]!)

    const tagged = await eventually(async () => {
      for (const peer of dhtPeers) {
        const tags = await tagsOf(self, peer.peerId)
        if (!tags.has(PeerTags.KAD_PEER_TAG) || !tags.has(PeerTags.KAD_CLOSE_TAG)) return false
      }
      return true
    })
    expect(tagged).toBe(true)
    const tags = await tagsOf(self, dhtPeers[0]!.peerId)
    expect(tags.get(PeerTags.KAD_PEER_TAG)?.value).toBe(PeerTags.KAD_PEER_TAG_VALUE)
    expect(tags.get(PeerTags.KAD_CLOSE_TAG)?.value).toBe(PeerTags.KAD_CLOSE_TAG_VALUE)
    expect(tags.has(PeerTags.KAD_KEEP_ALIVE_TAG)).toBe(true)
    for (const other of others) expect((await tagsOf(self, other.peerId)).size).toBe(0)

    const limits = (self.services as unknown as { limits: { limits: ConnectionLimits } }).limits.limits
    limits.setMaxConnections(3)
    expect(await eventually(() => self.getConnections().length <= 3)).toBe(true)
    const connected = new Set(self.getConnections().map((c) => c.remotePeer.toString()))
    expect(connected).toEqual(new Set(dhtPeers.map((p) => p.peerId.toString())))
  }, 30_000)
})
