import { describe, expect, it } from "@effect/vitest"
import { InvalidOptionError } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { beforeAll } from "vitest"
import {
  DEFAULT_MAX_PROVIDER_KEYS,
  DEFAULT_MAX_PROVIDERS_PER_KEY,
  MemoryProviderStore,
  type MemoryProviderStoreOptions
} from "../src/index.js"

const key = (...bytes: Array<number>) => Uint8Array.from(bytes)
const ids = async (store: MemoryProviderStore, k: Uint8Array) =>
  (await store.getProviders(k)).map((p) => p.id.toString())

let peers: Array<PeerId> = []

beforeAll(async () => {
  peers = await Promise.all(
    Array.from({ length: 5 }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
  )
})

const clocked = (options: MemoryProviderStoreOptions = {}) => {
  let now = 0
  const store = new MemoryProviderStore({ ...options, now: () => now })
  return { store, tick: () => now++ }
}

describe("MemoryProviderStore bounds", () => {
  it("documents bounded defaults", () => {
    expect(DEFAULT_MAX_PROVIDER_KEYS).toBe(100_000)
    expect(DEFAULT_MAX_PROVIDERS_PER_KEY).toBe(1_000)
  })

  it("evicts the least recently added provider of a full key", async () => {
    const { store, tick } = clocked({ maxProvidersPerKey: 3 })
    for (const peer of peers.slice(0, 3)) {
      await store.addProvider(key(1), { id: peer, multiaddrs: [] })
      tick()
    }
    // re-adding peer 0 makes peer 1 the oldest
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    tick()
    await store.addProvider(key(1), { id: peers[3], multiaddrs: [] })
    expect((await ids(store, key(1))).sort()).toEqual([peers[0], peers[2], peers[3]].map(String).sort())
    expect(store.stats()).toEqual({ keys: 1, providers: 3 })
  })

  it("evicts the least recently added key of a full store with all its providers", async () => {
    const { store, tick } = clocked({ maxKeys: 2 })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.addProvider(key(1), { id: peers[1], multiaddrs: [] })
    tick()
    await store.addProvider(key(2), { id: peers[0], multiaddrs: [] })
    tick()
    // touching key 1 again makes key 2 the oldest
    await store.addProvider(key(1), { id: peers[2], multiaddrs: [] })
    tick()
    await store.addProvider(key(3), { id: peers[0], multiaddrs: [] })
    expect(await ids(store, key(2))).toEqual([])
    expect(await ids(store, key(1))).toHaveLength(3)
    expect(await ids(store, key(3))).toEqual([peers[0].toString()])
    expect(store.stats()).toEqual({ keys: 2, providers: 4 })
  })

  it("never holds more than the bounds whatever is added", async () => {
    const { store, tick } = clocked({ maxKeys: 3, maxProvidersPerKey: 2 })
    for (let i = 0; i < 40; i++) {
      await store.addProvider(key(i % 7), {
        id: peers[i % peers.length],
        multiaddrs: [multiaddr("/ip4/10.0.0.1/tcp/1")]
      })
      tick()
      const stats = store.stats()
      expect(stats.keys).toBeLessThanOrEqual(3)
      expect(stats.providers).toBeLessThanOrEqual(6)
    }
  })

  it("frees expired entries on cleanup and everything on close", async () => {
    let now = 0
    const store = new MemoryProviderStore({ provideValidity: 100, now: () => now })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.addProvider(key(2), { id: peers[1], multiaddrs: [] })
    now = 50
    await store.addProvider(key(2), { id: peers[2], multiaddrs: [] })
    now = 100
    expect(store.stats()).toEqual({ keys: 2, providers: 3 })
    expect(await store.cleanup()).toBe(2)
    expect(store.stats()).toEqual({ keys: 1, providers: 1 })
    await store.close()
    expect(store.stats()).toEqual({ keys: 0, providers: 0 })
  })

  it("rejects bounds that are not positive integers", () => {
    for (const options of [
      { maxKeys: 0 },
      { maxKeys: 1.5 },
      { maxProvidersPerKey: -1 },
      { maxProvidersPerKey: Number.NaN }
    ]) {
      const field = Object.keys(options)[0]
      expect(() => new MemoryProviderStore(options)).toThrow(InvalidOptionError)
      try {
        new MemoryProviderStore(options)
      } catch (e) {
        expect((e as InvalidOptionError).field).toBe(field)
      }
    }
  })
})
