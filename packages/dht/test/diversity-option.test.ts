import { describe, expect, it } from "@effect/vitest"
import { MemoryNetworkHub, Network } from "@effect-kad/core"
import { DHTConfig } from "@effect-kad/options"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Effect, Layer } from "effect"
import { Dht } from "../src/index.js"

const node = (hub: MemoryNetworkHub, index: number, ipDiversityFilter: boolean) =>
  Effect.gen(function* () {
    const id = peerIdFromPrivateKey(yield* Effect.promise(() => generateKeyPair("Ed25519")))
    const config = yield* DHTConfig.fromOptions({
      mode: "server",
      autoRefresh: false,
      lookupCheckConcurrency: 1,
      ipDiversityFilter
    })
    // addresses are labels on the in-memory network: every node sits in the same IPv4 /16
    const context = yield* Layer.build(
      Dht.layerWith(config, hub.layer(id, [multiaddr(`/ip4/127.0.0.${index + 1}/tcp/4001`)]))
    )
    return { id, context }
  })

describe("the ipDiversityFilter option", () => {
  it.scopedLive("limits the routing table to 3 peers of one IP group when on, and admits all when off", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const strict = yield* node(hub, 0, true)
      const lax = yield* node(hub, 1, false)
      const others = yield* Effect.forEach([2, 3, 4, 5, 6, 7, 8, 9], (i) => node(hub, i, false))
      for (const other of others) {
        for (const me of [strict, lax]) {
          yield* Effect.provide(
            Effect.flatMap(Network, (n) => n.connect({ id: other.id, multiaddrs: [] })),
            me.context
          )
        }
      }
      yield* Effect.sleep(300)
      const size = (ctx: typeof strict.context) =>
        Effect.provide(
          Effect.flatMap(RoutingTable, (t) => t.size),
          ctx
        )
      expect(yield* size(strict.context)).toBeLessThanOrEqual(3)
      expect(yield* size(lax.context)).toBeGreaterThanOrEqual(8)
    })
  )
})
