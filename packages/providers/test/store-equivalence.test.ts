import { describe, expect, it } from "@effect/vitest"
import type { PeerInfo } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { MemoryDatastore } from "datastore-core"
import { FastCheck as fc } from "effect"
import { beforeAll } from "vitest"
import { DatastoreProviderStore, MemoryProviderStore, type ProviderStoreOptions } from "../src/index.js"

const VALIDITY = 1000
const ADDR_TTL = 400

// Keys whose base32 forms prefix one another, to catch namespace bleed.
const keys = [Uint8Array.from([1]), Uint8Array.from([1, 0]), Uint8Array.from([2, 7, 7])]
const addrs = [1, 2, 3].map((port) => multiaddr(`/ip4/127.0.0.1/tcp/${port}`))

type Op =
  | { readonly _tag: "add"; readonly key: number; readonly peer: number; readonly addrs: ReadonlyArray<number> }
  | { readonly _tag: "get"; readonly key: number; readonly limit: number | undefined }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "cleanup" }
  | { readonly _tag: "reopen" }
  | { readonly _tag: "stats" }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("add" as const),
      key: fc.nat({ max: keys.length - 1 }),
      peer: fc.nat({ max: 3 }),
      addrs: fc.subarray([0, 1, 2, 0])
    })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      _tag: fc.constant("get" as const),
      key: fc.nat({ max: keys.length - 1 }),
      limit: fc.option(fc.nat({ max: 4 }), { nil: undefined })
    })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      _tag: fc.constant("advance" as const),
      // the boundaries of both TTLs, and anything in between
      millis: fc.oneof(fc.constantFrom(0, 1, ADDR_TTL - 1, ADDR_TTL, VALIDITY - 1, VALIDITY), fc.nat({ max: 1200 }))
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "cleanup" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "reopen" as const }) },
  { weight: 2, arbitrary: fc.constant({ _tag: "stats" as const }) }
)

const view = (peers: ReadonlyArray<PeerInfo>) =>
  peers.map((p) => `${p.id.toString()} ${p.multiaddrs.map((a) => a.toString()).join(",")}`)

let peers: Array<PeerId> = []

beforeAll(async () => {
  peers = await Promise.all(
    Array.from({ length: 4 }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
  )
})

describe("MemoryProviderStore and DatastoreProviderStore", () => {
  it("answer and count alike for any sequence of add, get, time passing, cleanup, reopen and stats", {
    timeout: 120_000
  }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.constantFrom(0, 1, 2, 256), async (ops, cacheSize) => {
        let now = 5_000
        const options: ProviderStoreOptions = {
          provideValidity: VALIDITY,
          providerAddrTTL: ADDR_TTL,
          now: () => now
        }
        const memory = new MemoryProviderStore(options)
        const datastore = new MemoryDatastore()
        let durable = new DatastoreProviderStore(datastore, { ...options, cacheSize })

        for (const step of ops) {
          switch (step._tag) {
            case "add": {
              const provider = { id: peers[step.peer], multiaddrs: step.addrs.map((i) => addrs[i]) }
              await memory.addProvider(keys[step.key], provider)
              await durable.addProvider(keys[step.key], provider)
              break
            }
            case "get": {
              const options = { limit: step.limit }
              expect(view(await durable.getProviders(keys[step.key], options))).toEqual(
                view(await memory.getProviders(keys[step.key], options))
              )
              break
            }
            case "advance":
              now += step.millis
              break
            case "cleanup":
              expect(await durable.cleanup()).toBe(await memory.cleanup())
              break
            case "reopen":
              await durable.close()
              durable = new DatastoreProviderStore(datastore, { ...options, cacheSize })
              break
            case "stats":
              expect(await durable.stats()).toEqual(memory.stats())
              break
          }
        }
        expect(await durable.stats()).toEqual(memory.stats())
        for (const key of keys) {
          expect(view(await durable.getProviders(key))).toEqual(view(await memory.getProviders(key)))
        }
        expect(await durable.cleanup()).toBe(await memory.cleanup())
      }),
      { numRuns: 300 }
    )
  })
})
