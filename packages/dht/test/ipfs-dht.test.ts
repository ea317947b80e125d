import { describe, expect, it } from "@effect/vitest"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { afterEach } from "vitest"
import { createLoopbackHost, dialableAddress } from "../../../test/support/hosts.js"
import {
  bootstrapPeers,
  bucketSize,
  DHT,
  DHTMode,
  filterLocalhostInResponses,
  IpfsDHT,
  MemoryProviderStore,
  mode,
  NamespacedValidator,
  type Validator
} from "../src/index.js"

const permissive: Validator = {
  validate: () => undefined,
  select: (_key, values) => values.length - 1
}

const started: Array<{ dht: IpfsDHT; host: Libp2p }> = []

afterEach(async () => {
  for (const { dht, host } of started.splice(0)) {
    await dht.close()
    await host.stop()
  }
})

/** A chain of server nodes, each bootstrapped from the previous one only. */
const chain = async (length: number) => {
  const nodes: Array<{ dht: IpfsDHT; host: Libp2p }> = []
  for (let i = 0; i < length; i++) {
    const host = await createLoopbackHost()
    const previous = nodes.at(-1)
    const dht = new IpfsDHT({
      host,
      providerStore: new MemoryProviderStore(),
      validator: new NamespacedValidator({ test: permissive }),
      options: [
        mode(DHTMode.server),
        filterLocalhostInResponses(false),
        ...(previous === undefined ? [] : [bootstrapPeers([dialableAddress(previous.host)])])
      ]
    })
    await dht.start()
    await dht.bootstrap()
    const node = { dht, host }
    nodes.push(node)
    started.push(node)
  }
  return nodes
}

describe("IpfsDHT over real libp2p hosts", () => {
  it("two nodes: the second bootstraps from the first and finds it (the guide's integration test)", async () => {
    const [first, second] = await chain(2)
    const found = await second.dht.findPeer(first.host.peerId)
    expect(found).not.toBeNull()
    expect(found?.id.equals(first.host.peerId)).toBe(true)
    expect(found?.multiaddrs.length).toBeGreaterThan(0)
    expect(await second.dht.routingTable.size()).toBeGreaterThanOrEqual(1)
    expect(await second.dht.mode()).toBe("server")
  })

  it("every operation across a 5-node chain", async () => {
    const nodes = await chain(5)
    const [a, , , , e] = nodes
    // peer routing
    const farEnd = await a.dht.findPeer(e.host.peerId, { timeout: 20_000 })
    expect(farEnd?.id.equals(e.host.peerId)).toBe(true)
    const closest = await e.dht.getClosestPeers(a.host.peerId)
    expect(closest.length).toBeGreaterThanOrEqual(3)
    // values
    await a.dht.putValue("/test/greeting", new TextEncoder().encode("hello"))
    const value = await e.dht.getValue("/test/greeting")
    expect(value && new TextDecoder().decode(value)).toBe("hello")
    const seen: Array<string> = []
    for await (const v of e.dht.searchValue("/test/greeting")) seen.push(new TextDecoder().decode(v))
    expect(seen.at(-1)).toBe("hello")
    expect(await e.dht.getValue("/test/missing")).toBeNull()
    // providers
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("content")))
    await e.dht.provide(cid, true)
    const providers = []
    for await (const p of a.dht.findProvidersAsync(cid, 1)) providers.push(p)
    expect(providers.map((p) => p.id.toString())).toEqual([e.host.peerId.toString()])
    expect(providers[0].multiaddrs.length).toBeGreaterThan(0)
    // discovery
    const ttl = await a.dht.advertise("my-service")
    expect(ttl).toBeGreaterThan(0)
    const members = []
    for await (const p of await e.dht.findPeers("my-service")) members.push(p.id.toString())
    expect(members).toContain(a.host.peerId.toString())
  }, 120_000)

  it("a client-mode node queries the network but is never added to routing tables", async () => {
    const [server] = await chain(1)
    const host = await createLoopbackHost()
    const client = await DHT.new_(host, new MemoryProviderStore(), [
      mode(DHTMode.client),
      bucketSize(15),
      filterLocalhostInResponses(false),
      bootstrapPeers([dialableAddress(server.host)])
    ])
    started.push({ dht: client, host })
    await client.bootstrap()
    expect(await client.mode()).toBe("client")
    expect((await client.findPeer(server.host.peerId))?.id.equals(server.host.peerId)).toBe(true)
    const serverPeers = await server.dht.routingTable.listPeers()
    expect(serverPeers.map((p) => p.id.toString())).not.toContain(host.peerId.toString())
    // the client never registered the protocol
    expect(host.getProtocols()).not.toContain("/ipfs/kad/1.0.0")
  })

  it("close is idempotent, later calls reject with DHTClosedError, and bad options reject with InvalidOptionError", async () => {
    const host = await createLoopbackHost()
    const dht = new IpfsDHT({ host, options: { mode: DHTMode.server } })
    await dht.start()
    expect(host.getProtocols()).toContain("/ipfs/kad/1.0.0")
    await dht.close()
    await dht.close()
    expect(host.getProtocols()).not.toContain("/ipfs/kad/1.0.0")
    await expect(dht.findPeer(host.peerId)).rejects.toMatchObject({ _tag: "DHTClosedError" })
    await expect(DHT.new_(host, undefined, [bucketSize(0)])).rejects.toMatchObject({
      _tag: "InvalidOptionError",
      field: "bucketSize"
    })
    await host.stop()
  })

  it("operations honour an AbortSignal and a timeout", async () => {
    const [node] = await chain(1)
    const controller = new AbortController()
    controller.abort()
    await expect(node.dht.getClosestPeers(new Uint8Array(32), { signal: controller.signal })).rejects.toMatchObject({
      _tag: "AbortedError"
    })
    const unreachable = await createLoopbackHost()
    await unreachable.stop()
    const result = await node.dht.findPeer(unreachable.peerId, { timeout: 5_000 })
    expect(result).toBeNull()
  })
})
