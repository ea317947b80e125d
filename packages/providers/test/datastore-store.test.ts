import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { DHTClosedError, InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { MemoryDatastore } from "datastore-core"
import { LevelDatastore } from "datastore-level"
import { type Datastore, Key, type KeyQuery, type Pair, type Query } from "interface-datastore"
import { base32 } from "multiformats/bases/base32"
import { afterEach, beforeAll } from "vitest"
import { DatastoreProviderStore, ProviderStoreError } from "../src/index.js"
import { ProviderEntry } from "../src/store/provider-entry.generated.js"

const HOUR = 60 * 60 * 1000
const key = (...bytes: Array<number>) => Uint8Array.from(bytes)
const addr = (port: number) => multiaddr(`/ip4/127.0.0.1/tcp/${port}`)
const summary = (peers: ReadonlyArray<PeerInfo>) =>
  peers.map((p) => ({ id: p.id.toString(), addrs: p.multiaddrs.map((a) => a.toString()) }))
const entryKey = (k: Uint8Array, peer: PeerId, prefix = "/providers") =>
  new Key(`${prefix}/${base32.baseEncode(k)}/${base32.baseEncode(peer.toMultihash().bytes)}`)

const allKeys = async (datastore: Datastore): Promise<Array<string>> => {
  const out: Array<string> = []
  for await (const k of datastore.queryKeys({})) out.push(k.toString())
  return out.sort()
}

/** A MemoryDatastore that counts queries and can be slowed down or made to fail. */
class ProbedDatastore extends MemoryDatastore {
  queries = 0
  queryDelay: Promise<void> | undefined
  putDelay: Promise<void> | undefined
  putsDone = 0
  failPuts = false
  keyQueries = 0
  keysDelay: Promise<void> | undefined
  failKeyQueries = false

  override async *query(q: Query): AsyncGenerator<Pair> {
    this.queries++
    // Read first, then stall: like a LevelDB iterator, the query sees the
    // data as it was when it started.
    const snapshot: Array<Pair> = []
    for await (const pair of super.query(q)) snapshot.push(pair)
    if (this.queryDelay !== undefined) await this.queryDelay
    yield* snapshot
  }

  override async *queryKeys(q: KeyQuery): AsyncGenerator<Key> {
    this.keyQueries++
    if (this.failKeyQueries) throw new Error("iterator failed")
    const snapshot: Array<Key> = []
    for await (const k of super.queryKeys(q)) snapshot.push(k)
    if (this.keysDelay !== undefined) await this.keysDelay
    yield* snapshot
  }

  override async put(k: Key, value: Uint8Array): Promise<Key> {
    if (this.failPuts) throw new Error("disk full")
    if (this.putDelay !== undefined) await this.putDelay
    const out = super.put(k, value)
    this.putsDone++
    return out
  }
}

let peers: Array<PeerId> = []
const tempDirs: Array<string> = []

beforeAll(async () => {
  peers = await Promise.all(
    Array.from({ length: 4 }, async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
  )
})

afterEach(async () => {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe("DatastoreProviderStore", () => {
  it("survives closing and reopening a LevelDatastore, keeping each entry's age", async () => {
    const dir = await mkdtemp(join(tmpdir(), "effect-kad-providers-"))
    tempDirs.push(dir)
    let now = 1_000_000
    const clock = () => now

    const first = new LevelDatastore(dir)
    await first.open()
    const writer = new DatastoreProviderStore(first, { now: clock })
    await writer.addProvider(key(1, 2), { id: peers[1], multiaddrs: [] })
    now += 1
    await writer.addProvider(key(1, 2), { id: peers[0], multiaddrs: [addr(1), addr(2)] })
    now += HOUR
    await writer.addProvider(key(3), { id: peers[2], multiaddrs: [addr(3)] })
    await writer.close()
    await first.close()

    const second = new LevelDatastore(dir)
    await second.open()
    try {
      const reader = new DatastoreProviderStore(second, { now: clock })
      expect(summary(await reader.getProviders(key(1, 2)))).toEqual([
        { id: peers[0].toString(), addrs: [addr(1).toString(), addr(2).toString()] },
        { id: peers[1].toString(), addrs: [] }
      ])
      expect(summary(await reader.getProviders(key(3)))).toEqual([
        { id: peers[2].toString(), addrs: [addr(3).toString()] }
      ])
      // the stored times, not the reopen time, decide expiry
      now += 47 * HOUR
      expect(await reader.getProviders(key(1, 2))).toEqual([])
      expect(await reader.getProviders(key(3))).toHaveLength(1)
      expect(await reader.cleanup()).toBe(2)
      await reader.close()
    } finally {
      await second.close()
    }
  })

  it("lays entries out as /providers/<base32 key>/<base32 peer>, or under a chosen prefix", async () => {
    const datastore = new MemoryDatastore()
    await new DatastoreProviderStore(datastore).addProvider(key(1, 2), { id: peers[0], multiaddrs: [addr(1)] })
    await new DatastoreProviderStore(datastore, { prefix: "/dht/providers" }).addProvider(key(3), {
      id: peers[1],
      multiaddrs: []
    })
    expect(await allKeys(datastore)).toEqual(
      [entryKey(key(1, 2), peers[0]).toString(), entryKey(key(3), peers[1], "/dht/providers").toString()].sort()
    )
    const decoded = ProviderEntry.decode(await datastore.get(entryKey(key(1, 2), peers[0])))
    expect(decoded.addrs.map((bytes) => multiaddr(bytes).toString())).toEqual([addr(1).toString()])
    expect(typeof decoded.addedAt).toBe("number")
    expect(() => new DatastoreProviderStore(datastore, { prefix: "providers/" })).toThrow(InvalidOptionError)
    expect(() => new DatastoreProviderStore(datastore, { cacheSize: -1 })).toThrow(InvalidOptionError)
  })

  it("skips and deletes corrupt entries on read instead of failing", async () => {
    const datastore = new MemoryDatastore()
    const store = new DatastoreProviderStore(datastore)
    await store.addProvider(key(5), { id: peers[0], multiaddrs: [addr(1)] })
    const garbageValue = entryKey(key(5), peers[1])
    const noTimestamps = entryKey(key(5), peers[2])
    const badPeer = new Key(`/providers/${base32.baseEncode(key(5))}/notapeer`)
    const tooDeep = new Key(
      `/providers/${base32.baseEncode(key(5))}/${base32.baseEncode(peers[3].toMultihash().bytes)}/x`
    )
    await datastore.put(garbageValue, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))
    await datastore.put(noTimestamps, ProviderEntry.encode({ addrs: [] }))
    await datastore.put(badPeer, ProviderEntry.encode({ addedAt: Date.now(), addrsAddedAt: Date.now(), addrs: [] }))
    await datastore.put(tooDeep, ProviderEntry.encode({ addedAt: Date.now(), addrsAddedAt: Date.now(), addrs: [] }))

    expect(summary(await store.getProviders(key(5)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(1).toString()] }
    ])
    expect(await allKeys(datastore)).toEqual([entryKey(key(5), peers[0]).toString()])
  })

  it("drops an unparsable address but keeps the entry", async () => {
    const datastore = new MemoryDatastore()
    const now = Date.now()
    await datastore.put(
      entryKey(key(5), peers[0]),
      ProviderEntry.encode({
        addedAt: now,
        addrsAddedAt: now,
        addrs: [Uint8Array.from([0xee, 0xee, 0x01]), addr(9).bytes]
      })
    )
    const store = new DatastoreProviderStore(datastore)
    expect(summary(await store.getProviders(key(5)))).toEqual([
      { id: peers[0].toString(), addrs: [addr(9).toString()] }
    ])
  })

  it("cleanup deletes corrupt values and debris in its namespace, counting them, and nothing outside it", async () => {
    const datastore = new MemoryDatastore()
    const store = new DatastoreProviderStore(datastore)
    await store.addProvider(key(5), { id: peers[0], multiaddrs: [] })
    await datastore.put(entryKey(key(6), peers[1]), Uint8Array.from([0x0a, 0xff]))
    await datastore.put(new Key("/providers/stray"), Uint8Array.from([1]))
    await datastore.put(new Key("/other/thing"), Uint8Array.from([1]))
    expect(await store.cleanup()).toBe(2)
    expect(await allKeys(datastore)).toEqual(["/other/thing", entryKey(key(5), peers[0]).toString()].sort())
  })

  it("serves repeated reads from the cache and keeps it current on add and cleanup", async () => {
    let now = 0
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore, { cacheSize: 2, provideValidity: 100, now: () => now })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.getProviders(key(1))
    await store.getProviders(key(1))
    expect(datastore.queries).toBe(1)

    now = 50
    await store.addProvider(key(1), { id: peers[1], multiaddrs: [] })
    expect((await store.getProviders(key(1))).map((p) => p.id.toString())).toEqual([peers[1], peers[0]].map(String))
    expect(datastore.queries).toBe(1)

    now = 100
    expect(await store.cleanup()).toBe(1)
    expect((await store.getProviders(key(1))).map((p) => p.id.toString())).toEqual([peers[1].toString()])
    const afterCleanup = datastore.queries

    // three keys through a cache of two: the least recently read one is reloaded
    await store.getProviders(key(2))
    await store.getProviders(key(3))
    await store.getProviders(key(1))
    expect(datastore.queries).toBe(afterCleanup + 3)
    await store.getProviders(key(3))
    expect(datastore.queries).toBe(afterCleanup + 3)
  })

  it("queries the datastore on every read when the cache is disabled", async () => {
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore, { cacheSize: 0 })
    await store.getProviders(key(1))
    await store.getProviders(key(1))
    expect(datastore.queries).toBe(2)
  })

  it("does not cache a stale set when an add races a cold read of the same key", async () => {
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore)
    let releaseQuery!: () => void
    datastore.queryDelay = new Promise((resolve) => {
      releaseQuery = resolve
    })
    const read = store.getProviders(key(1))
    const add = store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await new Promise((resolve) => setTimeout(resolve, 20))
    releaseQuery()
    await Promise.all([read, add])
    datastore.queryDelay = undefined
    expect((await store.getProviders(key(1))).map((p) => p.id.toString())).toEqual([peers[0].toString()])
  })

  it("does not let cleanup delete an entry that was refreshed while it walked", async () => {
    let now = 0
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore, { provideValidity: 100, now: () => now })
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    await store.addProvider(key(1), { id: peers[1], multiaddrs: [] })
    now = 100
    let releaseQuery!: () => void
    datastore.queryDelay = new Promise((resolve) => {
      releaseQuery = resolve
    })
    const cleanup = store.cleanup()
    await new Promise((resolve) => setTimeout(resolve, 20))
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    releaseQuery()
    expect(await cleanup).toBe(1)
    datastore.queryDelay = undefined
    expect((await store.getProviders(key(1))).map((p) => p.id.toString())).toEqual([peers[0].toString()])
    expect(await allKeys(datastore)).toEqual([entryKey(key(1), peers[0]).toString()])
  })

  it("wraps datastore failures in ProviderStoreError", async () => {
    const datastore = new ProbedDatastore()
    datastore.failPuts = true
    const store = new DatastoreProviderStore(datastore)
    const error = await store.addProvider(key(1), { id: peers[0], multiaddrs: [] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProviderStoreError)
    expect((error as ProviderStoreError).operation).toBe("addProvider")
    expect(((error as ProviderStoreError).cause as Error).message).toBe("disk full")
  })

  it("close waits for in-flight writes, so the datastore can be closed right after", async () => {
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore)
    let releasePut!: () => void
    datastore.putDelay = new Promise((resolve) => {
      releasePut = resolve
    })
    const add = store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    let closed = false
    const closing = store.close().then(() => {
      closed = true
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(closed).toBe(false)
    releasePut()
    await closing
    expect(datastore.putsDone).toBe(1)
    await add
  })

  it.each([0, 256])(
    "counts keys and entries with one walk, then keeps the counts current through adds, reads and cleanups (cache %i)",
    async (cacheSize) => {
      let now = 0
      const datastore = new ProbedDatastore()
      const options = { provideValidity: 100, now: () => now, cacheSize }
      // entries of an earlier run, an unreadable one among them, and debris that is no entry
      const earlier = new DatastoreProviderStore(datastore, options)
      await earlier.addProvider(key(1), { id: peers[0], multiaddrs: [addr(1)] })
      await earlier.addProvider(key(1), { id: peers[1], multiaddrs: [] })
      await earlier.addProvider(key(2), { id: peers[0], multiaddrs: [] })
      await earlier.close()
      await datastore.put(entryKey(key(3), peers[2]), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))
      await datastore.put(new Key("/providers/stray"), Uint8Array.from([1]))

      const store = new DatastoreProviderStore(datastore, options)
      expect(await store.stats()).toEqual({ keys: 3, providers: 4 })
      const reads = () => datastore.queries + datastore.keyQueries
      const afterWalk = reads()
      expect(await store.stats()).toEqual({ keys: 3, providers: 4 })
      expect(reads()).toBe(afterWalk)

      now = 50
      await store.getProviders(key(1))
      // a refresh adds no entry, a new provider of a known key adds one, a new key adds both
      await store.addProvider(key(1), { id: peers[0], multiaddrs: [addr(2)] })
      await store.addProvider(key(1), { id: peers[2], multiaddrs: [] })
      await store.addProvider(key(4), { id: peers[3], multiaddrs: [] })
      expect(await store.stats()).toEqual({ keys: 4, providers: 6 })
      // reading key 3 deletes its only, unreadable entry, and so the key
      expect(await store.getProviders(key(3))).toEqual([])
      expect(await store.stats()).toEqual({ keys: 3, providers: 5 })

      // the entries of the earlier run expire; key 2 had no other
      now = 100
      expect(await store.cleanup()).toBe(3)
      expect(await store.stats()).toEqual({ keys: 2, providers: 3 })
      // what the counts say is what a fresh walk finds
      const reopened = new DatastoreProviderStore(datastore, options)
      expect(await reopened.stats()).toEqual(await store.stats())
      await reopened.close()

      now = 150
      expect(await store.cleanup()).toBe(3)
      expect(await store.stats()).toEqual({ keys: 0, providers: 0 })
      await store.close()
      await expect(store.stats()).rejects.toBeInstanceOf(DHTClosedError)
    }
  )

  it("counts each entry once when writes run beside the first count", async () => {
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore)
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    const tick = () => new Promise((resolve) => setTimeout(resolve, 20))

    // an add already writing when the count is asked for: the walk waits for it
    let releasePut!: () => void
    datastore.putDelay = new Promise((resolve) => {
      releasePut = resolve
    })
    let releaseWalk!: () => void
    datastore.keysDelay = new Promise((resolve) => {
      releaseWalk = resolve
    })
    const writing = store.addProvider(key(2), { id: peers[1], multiaddrs: [] })
    const counting = store.stats()
    await tick()
    expect(datastore.keyQueries).toBe(0)
    datastore.putDelay = undefined
    releasePut()
    await writing

    // an add asked for while the walk runs waits for it, then counts itself
    await tick()
    expect(datastore.keyQueries).toBe(1)
    const late = store.addProvider(key(3), { id: peers[2], multiaddrs: [] })
    await tick()
    expect(datastore.putsDone).toBe(2)
    releaseWalk()
    expect(await counting).toEqual({ keys: 2, providers: 2 })
    await late
    expect(await store.stats()).toEqual({ keys: 3, providers: 3 })
  })

  it("a failed count rejects with ProviderStoreError and the next stats() walks again", async () => {
    const datastore = new ProbedDatastore()
    const store = new DatastoreProviderStore(datastore)
    await store.addProvider(key(1), { id: peers[0], multiaddrs: [] })
    datastore.failKeyQueries = true
    const error = await store.stats().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProviderStoreError)
    expect((error as ProviderStoreError).operation).toBe("stats")
    // uncounted, the store works as before and counts nothing
    await store.addProvider(key(2), { id: peers[0], multiaddrs: [] })
    datastore.failKeyQueries = false
    expect(await store.stats()).toEqual({ keys: 2, providers: 2 })
  })
})
