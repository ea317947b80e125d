import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { describe, expect, it } from "@effect/vitest"
import { identify, identifyPush } from "@libp2p/identify"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { afterEach } from "vitest"
import {
  DHTMode,
  filterLocalhostInResponses,
  type KadDHTService,
  kadDHT,
  mode,
  NamespacedValidator,
  validator
} from "../src/index.js"

const started: Array<Libp2p> = []
afterEach(async () => {
  for (const node of started.splice(0)) await node.stop()
})

const permissive = new NamespacedValidator({
  svc: { validate: () => undefined, select: () => 0 }
})

const makeNode = async () => {
  const node = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      dht: kadDHT([mode(DHTMode.server), filterLocalhostInResponses(false), validator(permissive)])
    }
  })
  started.push(node)
  return node
}

describe("kadDHT as a js-libp2p service", () => {
  it("plugs into createLibp2p and serves libp2p.contentRouting and libp2p.peerRouting", async () => {
    const a = await makeNode()
    const b = await makeNode()
    const c = await makeNode()
    await b.dial(a.getMultiaddrs()[0])
    await c.dial(b.getMultiaddrs()[0])
    // identify runs after the dial; give the routing tables a moment to learn each other
    const dhtOf = (node: Libp2p) => (node.services as { dht: KadDHTService }).dht
    for (let i = 0; i < 50 && (await dhtOf(b).dht.routingTable.size()) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await dhtOf(b).dht.routingTable.size()).toBe(2)
    expect(a.getProtocols()).toContain("/ipfs/kad/1.0.0")

    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("service")))
    await a.contentRouting.provide(cid)
    const providers = []
    for await (const provider of c.contentRouting.findProviders(cid)) {
      providers.push(provider)
      break
    }
    expect(providers[0]?.id.equals(a.peerId)).toBe(true)
    // cancelReprovide takes the key out of the reprovider
    expect((await dhtOf(a).dht.reprovideProgress()).keysTotal).toBe(1)
    await a.contentRouting.cancelReprovide(cid)
    expect((await dhtOf(a).dht.reprovideProgress()).keysTotal).toBe(0)
    expect(await dhtOf(a).dht.stopProviding(cid)).toBe(false)

    await c.contentRouting.put(new TextEncoder().encode("/svc/k"), new TextEncoder().encode("v"))
    const value = await a.contentRouting.get(new TextEncoder().encode("/svc/k"))
    expect(new TextDecoder().decode(value)).toBe("v")

    const found = await a.peerRouting.findPeer(c.peerId)
    expect(found.id.equals(c.peerId)).toBe(true)
    expect(found.multiaddrs.length).toBeGreaterThan(0)

    const closest = []
    for await (const peer of c.peerRouting.getClosestPeers(a.peerId.toMultihash().bytes)) closest.push(peer)
    expect(closest.map((p) => p.id.toString())).toContain(a.peerId.toString())
  }, 60_000)

  it("stopping the node stops the DHT and unregisters the protocol", async () => {
    const node = await makeNode()
    expect(node.getProtocols()).toContain("/ipfs/kad/1.0.0")
    await node.stop()
    expect(node.getProtocols()).not.toContain("/ipfs/kad/1.0.0")
  })
})
