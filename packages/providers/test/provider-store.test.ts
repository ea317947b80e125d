import { describe, expect, it } from "@effect/vitest"
import { DHTClosedError, InvalidKeyError, InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { MemoryDatastore } from "datastore-core"
import { beforeAll } from "vitest"
import {
  DatastoreProviderStore,
  DEFAULT_PROVIDE_VALIDITY_MILLIS,
  DEFAULT_PROVIDER_ADDR_TTL_MILLIS,
  MemoryProviderStore,
  type ProviderStore,
  type ProviderStoreOptions
} from "../src/index.js"

const HOUR = 60 * 60 * 1000
const START = 1_700_000_000_000

const key = (...bytes: Array<number>) => Uint8Array.from(bytes)
const addr = (port: number) => multiaddr(`/ip4/127.0.0.1/tcp/${port}`)
const summary = (peers: ReadonlyArray<PeerInfo>) =>
  peers.map((p) => ({ id: p.id.toString(), addrs: p.multiaddrs.map((a) => a.toString()) }))

/** A store plus a clock the test moves by hand. */
interface Harness {
  readonly store: ProviderStore
  readonly advance: (millis: number) => void
}

type Factory = (options?: ProviderStoreOptions) => Harness

const withClock =
  (make: (options: ProviderStoreOptions) => ProviderStore): Factory =>
  (options) => {
    let now = START
    const store = make({ ...options, now: () => now })
    return {
      store,
      advance: (millis) => {
        now += millis
      }
    }
  }

const factories: ReadonlyArray<readonly [string, Factory]> = [
  ["MemoryProviderStore", withClock((options) => new MemoryProviderStore(options))],
  [
    "DatastoreProviderStore (cached)",
    withClock((options) => new DatastoreProviderStore(new MemoryDatastore(), options))
  ],
  [
    "DatastoreProviderStore (uncached)",
    withClock((options) => new DatastoreProviderStore(new MemoryDatastore(), { ...options, cacheSize: 0 }))
  ]
]

let peers: Array<PeerId> = []

beforeAll(async () => {
  peers = await Promise.all(
    Array.from({ length: 6 }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
  )
})

describe.each(factories)("%s", (_name, make) => {
  it("returns an added provider with its addresses, and nothing for unknown keys", async () => {
    const { store } = make()
    await store.addProvider(key(1, 2, 3), { id: peers[0], multiaddrs: [addr(1), addr(2)] })
    expect(summary(await store.getProviders(key(1, 2, 3)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(1).toString(), addr(2).toString()] }
    ])
    expect(await store.getProviders(key(9))).toEqual([])
  })

  it("keeps keys apart, also when one key's encoding is a prefix of another's", async () => {
    const { store } = make()
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.addProvider(key(1, 0), { id: peers[1], multiaddrs: [] })
    expect(summary(await store.getProviders(key(1)))).toEqual([{ id: peers[0].toString(), addrs: [] }])
    expect(summary(await store.getProviders(key(1, 0)))).toEqual([{ id: peers[1].toString(), addrs: [] }])
  })

  it("keeps one entry per peer, with the latest addresses, deduplicated", async () => {
    const { store, advance } = make()
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(1000)
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(2), addr(3), addr(2)] })
    expect(summary(await store.getProviders(key(7)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(2).toString(), addr(3).toString()] }
    ])
  })

  it("orders providers most recently added first and honours the limit", async () => {
    const { store, advance } = make()
    for (const peer of peers.slice(0, 5)) {
      await store.addProvider(key(7), { id: peer, multiaddrs: [] })
      advance(10)
    }
    const expected = peers
      .slice(0, 5)
      .reverse()
      .map((p) => p.toString())
    expect((await store.getProviders(key(7))).map((p) => p.id.toString())).toEqual(expected)
    expect((await store.getProviders(key(7), { limit: 2 })).map((p) => p.id.toString())).toEqual(expected.slice(0, 2))
    expect(await store.getProviders(key(7), { limit: 0 })).toEqual([])
    expect(await store.getProviders(key(7), { limit: Number.POSITIVE_INFINITY })).toHaveLength(5)
    await expect(store.getProviders(key(7), { limit: -1 })).rejects.toBeInstanceOf(InvalidOptionError)
    await expect(store.getProviders(key(7), { limit: 1.5 })).rejects.toBeInstanceOf(InvalidOptionError)
  })

  it("stops serving an entry provideValidity after it was added (default 48 h)", async () => {
    const { store, advance } = make()
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(DEFAULT_PROVIDE_VALIDITY_MILLIS - 1)
    expect(await store.getProviders(key(7))).toHaveLength(1)
    advance(1)
    expect(await store.getProviders(key(7))).toEqual([])
  })

  it("drops addresses providerAddrTTL after they were added (default 24 h), keeping the peer ID", async () => {
    const { store, advance } = make()
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(DEFAULT_PROVIDER_ADDR_TTL_MILLIS - 1)
    expect(summary(await store.getProviders(key(7)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(1).toString()] }
    ])
    advance(1)
    const [only] = await store.getProviders(key(7))
    expect(only.id.equals(peers[0])).toBe(true)
    expect(only.multiaddrs).toEqual([])
  })

  it("refreshes both the entry and its addresses on re-add", async () => {
    const { store, advance } = make()
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(40 * HOUR)
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(20 * HOUR) // 60 h after the first add, 20 h after the refresh
    expect(summary(await store.getProviders(key(7)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(1).toString()] }
    ])
    advance(20 * HOUR) // addresses now 40 h old, entry still inside 48 h
    expect(summary(await store.getProviders(key(7)))).toEqual([{ id: peers[0].toString(), addrs: [] }])
    advance(8 * HOUR)
    expect(await store.getProviders(key(7))).toEqual([])
  })

  it("keeps earlier addresses, with their age, when re-added without addresses", async () => {
    const { store, advance } = make({ provideValidity: "10 hours", providerAddrTTL: "5 hours" })
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(4 * HOUR)
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [] })
    expect(summary(await store.getProviders(key(7)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(1).toString()] }
    ])
    advance(1 * HOUR)
    expect(summary(await store.getProviders(key(7)))).toEqual([{ id: peers[0].toString(), addrs: [] }])
    advance(8 * HOUR) // 9 h after the re-add: the entry itself was refreshed
    expect(await store.getProviders(key(7))).toHaveLength(1)
  })

  it("does not resurrect the addresses of an expired entry", async () => {
    const { store, advance } = make({ provideValidity: "1 hour", providerAddrTTL: "2 hours" })
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [addr(1)] })
    advance(HOUR)
    await store.addProvider(key(7), { id: peers[0], multiaddrs: [] })
    expect(summary(await store.getProviders(key(7)))).toEqual([{ id: peers[0].toString(), addrs: [] }])
  })

  it("cleanup removes only expired entries and reports how many", async () => {
    const { store, advance } = make({ provideValidity: 1000, providerAddrTTL: 500 })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [addr(1)] })
    await store.addProvider(key(2), { id: peers[1], multiaddrs: [] })
    advance(600)
    await store.addProvider(key(2), { id: peers[2], multiaddrs: [addr(2)] })
    expect(await store.cleanup()).toBe(0)
    advance(400)
    expect(await store.cleanup()).toBe(2)
    expect(await store.cleanup()).toBe(0)
    expect(await store.getProviders(key(1))).toEqual([])
    expect(summary(await store.getProviders(key(2)))).toEqual([
      { id: peers[2].toString(), addrs: [addr(2).toString()] }
    ])
  })

  it("accepts keys of 1 and 80 bytes and rejects 0 and 81 bytes with InvalidKeyError", async () => {
    const { store } = make()
    const one = new Uint8Array(1).fill(5)
    const eighty = new Uint8Array(80).fill(6)
    await store.addProvider(one, { id: peers[0], multiaddrs: [] })
    await store.addProvider(eighty, { id: peers[1], multiaddrs: [] })
    expect((await store.getProviders(one)).map((p) => p.id.toString())).toEqual([peers[0].toString()])
    expect((await store.getProviders(eighty)).map((p) => p.id.toString())).toEqual([peers[1].toString()])
    for (const bad of [new Uint8Array(0), new Uint8Array(81)]) {
      const added = await store.addProvider(bad, { id: peers[0], multiaddrs: [] }).catch((e: unknown) => e)
      expect(added).toBeInstanceOf(InvalidKeyError)
      expect((added as InvalidKeyError).key.byteLength).toBe(bad.byteLength)
      await expect(store.getProviders(bad)).rejects.toBeInstanceOf(InvalidKeyError)
    }
  })

  it("fails every operation with DHTClosedError after close, and close is idempotent", async () => {
    const { store } = make()
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.close()
    await store.close()
    const failures = await Promise.all([
      store.addProvider(key(1), { id: peers[0], multiaddrs: [] }).catch((e: unknown) => e),
      store.getProviders(key(1)).catch((e: unknown) => e),
      store.cleanup().catch((e: unknown) => e)
    ])
    expect(failures.map((e) => (e as DHTClosedError)._tag)).toEqual([
      "DHTClosedError",
      "DHTClosedError",
      "DHTClosedError"
    ])
    expect(failures.map((e) => (e as DHTClosedError).operation)).toEqual(["addProvider", "getProviders", "cleanup"])
    expect(failures[0]).toBeInstanceOf(DHTClosedError)
  })

  it("rejects invalid timing options with InvalidOptionError naming the field", () => {
    const fieldOf = (options: ProviderStoreOptions) => {
      try {
        make(options)
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidOptionError)
        return (e as InvalidOptionError).field
      }
      return undefined
    }
    expect(fieldOf({ provideValidity: 0 })).toBe("provideValidity")
    expect(fieldOf({ provideValidity: -5 })).toBe("provideValidity")
    expect(fieldOf({ providerAddrTTL: -1 })).toBe("providerAddrTTL")
    expect(fieldOf({ providerAddrTTL: 0 })).toBeUndefined()
    expect(fieldOf({ provideValidity: "3 days" })).toBeUndefined()
  })

  it("never hands out addresses when providerAddrTTL is 0", async () => {
    const { store } = make({ providerAddrTTL: 0 })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [addr(1)] })
    expect(summary(await store.getProviders(key(1)))).toEqual([{ id: peers[0].toString(), addrs: [] }])
  })
})
