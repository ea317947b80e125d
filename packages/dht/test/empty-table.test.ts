/**
 * Operations on a node whose routing table is still empty: right after
 * start, right after a dial, before identify told it who serves the DHT.
 */
import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, Network } from "@effect-kad/core"
import { DHTConfig } from "@effect-kad/options"
import { ContentRouting } from "@effect-kad/providers"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Chunk, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { afterEach } from "vitest"
import { createLoopbackHost } from "../../../test/support/hosts.js"
import { DHTMode, Dht, emptyTableWait, filterLocalhostInResponses, IpfsDHT, mode } from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))))

/** A node on the in-memory network, connected to one peer that does not serve the DHT, so its table stays empty. */
const loneNode = (options: Parameters<typeof DHTConfig.fromOptions>[0]) =>
  Effect.gen(function* () {
    const hub = new MemoryNetworkHub()
    const config = yield* DHTConfig.fromOptions(options)
    const id = yield* newPeerId
    const bystander = yield* newPeerId
    const bystanderNetwork = yield* hub.attach(bystander)
    const layer = Dht.layerWith(config, hub.layer(id))
    return { hub, id, layer, bystander, bystanderNetwork }
  })

describe("an empty routing table", () => {
  it.scoped("a provide waits the bounded time for peers, then reports that it reached none", () =>
    Effect.gen(function* () {
      const { layer, bystander } = yield* loneNode({ mode: "server", autoRefresh: false, emptyTableWait: "5 seconds" })
      const context = yield* Layer.build(layer)
      const cid = yield* cidOf("lonely")
      // connected to a peer that never turns out to serve the DHT
      yield* Effect.provide(
        Effect.flatMap(Network, (n) => n.connect({ id: bystander, multiaddrs: [] })),
        context
      )
      const fiber = yield* Effect.fork(
        Effect.provide(
          Effect.flatMap(ContentRouting, (c) => c.provide(cid)),
          context
        )
      )
      yield* TestClock.adjust("4900 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(fiber)).toBe(0)
    })
  )

  it.scoped("with no connection at all there is nothing to wait for", () =>
    Effect.gen(function* () {
      const { layer } = yield* loneNode({ mode: "server", autoRefresh: false })
      const context = yield* Layer.build(layer)
      const cid = yield* cidOf("alone")
      expect(
        yield* Effect.provide(
          Effect.flatMap(ContentRouting, (c) => c.provide(cid)),
          context
        )
      ).toBe(0)
    })
  )

  it.scoped("a provide waiting on an empty table goes ahead as soon as a server arrives", () =>
    Effect.gen(function* () {
      const { hub, id, layer, bystander } = yield* loneNode({ mode: "server", autoRefresh: false })
      const context = yield* Layer.build(layer)
      const cid = yield* cidOf("soon")
      const server = yield* newPeerId
      const serverContext = yield* Layer.build(
        Dht.layerWith(yield* DHTConfig.fromOptions({ mode: "server", autoRefresh: false }), hub.layer(server))
      )
      yield* Effect.provide(
        Effect.flatMap(Network, (n) => n.connect({ id: bystander, multiaddrs: [] })),
        context
      )
      const fiber = yield* Effect.fork(
        Effect.provide(
          Effect.flatMap(ContentRouting, (c) => c.provide(cid)),
          context
        )
      )
      yield* TestClock.adjust("1 second")
      // the server connects: identify (here: the simulated connection) tells the node, which admits it
      yield* Effect.provide(
        Effect.flatMap(Network, (n) => n.connect({ id: server, multiaddrs: [] })),
        context
      )
      for (let i = 0; i < 50 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(fiber)).toBe(1)
      const stored = yield* Effect.provide(
        // the server's own store comes first, before any lookup
        Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findProviders(cid, { count: 1 }))),
        serverContext
      )
      expect(Chunk.toArray(stored).map((p) => p.id.toString())).toEqual([id.toString()])
      expect(
        Option.isSome(
          yield* Effect.provide(
            Effect.flatMap(RoutingTable, (t) => t.find(server)),
            context
          )
        )
      ).toBe(true)
    })
  )
})

describe("the Promise facade and real hosts", () => {
  const hosts: Array<Libp2p> = []
  const dhts: Array<IpfsDHT> = []
  afterEach(async () => {
    for (const dht of dhts.splice(0)) await dht.close()
    for (const host of hosts.splice(0)) await host.stop()
  })

  const start = async (options: Parameters<typeof emptyTableWait>[0] | undefined, serving: boolean) => {
    const host = await createLoopbackHost()
    hosts.push(host)
    const dht = new IpfsDHT({
      host,
      options: [
        mode(serving ? DHTMode.server : DHTMode.client),
        filterLocalhostInResponses(false),
        ...(options === undefined ? [] : [emptyTableWait(options)])
      ]
    })
    dhts.push(dht)
    await dht.start()
    return { host, dht }
  }

  it("provide on an empty table rejects with ProvideError after its bounded wait", async () => {
    const node = await start("500 millis", true)
    const bystander = await createLoopbackHost()
    hosts.push(bystander)
    await node.host.dial(bystander.getMultiaddrs()[0])
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("nobody")))
    const started = Date.now()
    await expect(node.dht.provide(cid)).rejects.toMatchObject({ _tag: "ProvideError", operation: "provide" })
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
    await expect(node.dht.advertise("nobody-here")).rejects.toMatchObject({ _tag: "ProvideError" })
    // announce=false is local only: nothing to reach, nothing to reject
    await node.dht.provide(cid, false)
  })

  it("a provide right after dialing reaches the peer once identify lands; bootstrap() joins through connections", async () => {
    const server = await start(undefined, true)
    const node = await start(undefined, true)
    const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("early")))
    await node.host.dial(server.host.getMultiaddrs()[0])
    // identify has not run yet: the table is empty when provide starts
    expect(await node.dht.routingTable.size()).toBe(0)
    await node.dht.provide(cid)
    const found = []
    for await (const p of server.dht.findProvidersAsync(cid, 1, { timeout: 5_000 })) found.push(p.id.toString())
    expect(found).toEqual([node.host.peerId.toString()])

    // a third node with no bootstrap peers joins through the connection it has
    const late = await start(undefined, false)
    await late.host.dial(server.host.getMultiaddrs()[0])
    await late.dht.bootstrap()
    expect((await late.dht.routingTable.listPeers()).map((p) => p.id.toString())).toContain(
      server.host.peerId.toString()
    )
  })
})
