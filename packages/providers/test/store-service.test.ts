import { describe, expect, it } from "@effect/vitest"
import { DHTClosedError, InvalidKeyError, InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { MemoryDatastore } from "datastore-core"
import { Context, Effect, Exit, Layer, Option, Scope, TestClock } from "effect"
import { beforeAll } from "vitest"
import {
  type GetProvidersOptions,
  MemoryProviderStore,
  type ProviderStore,
  ProviderStoreError,
  ProviderStoreService
} from "../src/index.js"

const key = Uint8Array.from([0x12, 0x20, 1, 2, 3])
const addr = multiaddr("/ip4/127.0.0.1/tcp/4001")

/** Wraps a store to observe what the service does with it. */
class ObservedStore implements ProviderStore {
  cleanups = 0
  closes = 0
  failCleanup = false

  constructor(readonly inner: ProviderStore) {}

  addProvider(k: Uint8Array, provider: PeerInfo): Promise<void> {
    return this.inner.addProvider(k, provider)
  }

  getProviders(k: Uint8Array, options?: GetProvidersOptions): Promise<Array<PeerInfo>> {
    return this.inner.getProviders(k, options)
  }

  async cleanup(): Promise<number> {
    this.cleanups++
    if (this.failCleanup) throw new Error("datastore unavailable")
    return this.inner.cleanup()
  }

  async close(): Promise<void> {
    this.closes++
    return this.inner.close()
  }
}

// Lets the cleanup fiber that TestClock just woke finish its Promise round trip.
const settle = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

const advance = (duration: Parameters<typeof TestClock.adjust>[0]) =>
  Effect.zipRight(TestClock.adjust(duration), settle)

const serviceOf = (layer: Layer.Layer<ProviderStoreService, InvalidOptionError>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, ProviderStoreService))

let peer: PeerId

beforeAll(async () => {
  peer = peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
})

describe("ProviderStoreService", () => {
  it.scoped("runs cleanup once per interval, first after one interval (default 1 h)", () =>
    Effect.gen(function* () {
      const store = new ObservedStore(new MemoryProviderStore())
      yield* serviceOf(ProviderStoreService.layer(store))
      yield* advance("59 minutes")
      expect(store.cleanups).toBe(0)
      yield* advance("1 minute")
      expect(store.cleanups).toBe(1)
      yield* advance("2 hours")
      expect(store.cleanups).toBe(3)
    })
  )

  it.scoped("honours cleanupIntervalMillis, and Infinity runs no cleanup", () =>
    Effect.gen(function* () {
      const often = new ObservedStore(new MemoryProviderStore())
      const never = new ObservedStore(new MemoryProviderStore())
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* serviceOf(ProviderStoreService.layer(often, { cleanupIntervalMillis: 10_000 }))
          for (let i = 0; i < 3; i++) yield* advance("10 seconds")
        })
      )
      expect(often.cleanups).toBe(3)
      yield* serviceOf(ProviderStoreService.layer(never, { cleanupIntervalMillis: Number.POSITIVE_INFINITY }))
      yield* advance("10 hours")
      expect(never.cleanups).toBe(0)
    })
  )

  it.scoped("expires entries on the Effect clock and frees them in the periodic cleanup", () =>
    Effect.gen(function* () {
      const service = yield* serviceOf(ProviderStoreService.layerMemory())
      yield* service.addProvider(key, { id: peer, multiaddrs: [addr] })
      const fresh = yield* service.getProviders(key)
      expect(fresh.map((p) => p.multiaddrs.map(String))).toEqual([[addr.toString()]])

      yield* advance("24 hours")
      const stale = yield* service.getProviders(key)
      expect(stale.map((p) => [p.id.toString(), p.multiaddrs.length])).toEqual([[peer.toString(), 0]])

      const memory = service.store as MemoryProviderStore
      expect(memory.stats().providers).toBe(1)
      yield* advance("24 hours")
      expect(yield* service.getProviders(key)).toEqual([])
      expect(memory.stats()).toEqual({ keys: 0, providers: 0 })
    })
  )

  it.scoped("builds a datastore-backed service on the Effect clock", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      const service = yield* serviceOf(ProviderStoreService.layerDatastore(datastore, { provideValidity: "1 hour" }))
      yield* service.addProvider(key, { id: peer, multiaddrs: [addr] })
      expect((yield* service.getProviders(key)).map((p) => p.id.toString())).toEqual([peer.toString()])
      yield* advance("1 hour")
      expect(yield* service.getProviders(key)).toEqual([])
      expect(yield* service.cleanup).toBe(0)
    })
  )

  it.scoped("reports the size of a store that counts itself, and none for one that does not", () =>
    Effect.gen(function* () {
      const datastore = new MemoryDatastore()
      for (const layer of [
        ProviderStoreService.layerMemory(),
        ProviderStoreService.layerDatastore(datastore, { provideValidity: "1 hour" })
      ]) {
        const service = yield* serviceOf(layer)
        expect(yield* service.stats).toEqual(Option.some({ keys: 0, providers: 0 }))
        yield* service.addProvider(key, { id: peer, multiaddrs: [addr] })
        expect(yield* service.stats).toEqual(Option.some({ keys: 1, providers: 1 }))
      }
      const uncounted = yield* serviceOf(ProviderStoreService.layer(new ObservedStore(new MemoryProviderStore())))
      yield* uncounted.addProvider(key, { id: peer, multiaddrs: [addr] })
      expect(yield* uncounted.stats).toEqual(Option.none())
    })
  )

  it.effect("closes a store it created on release, but not a store it was given", () =>
    Effect.gen(function* () {
      const given = new ObservedStore(new MemoryProviderStore())
      const scope = yield* Scope.make()
      const wrapped = Context.get(
        yield* Layer.buildWithScope(ProviderStoreService.layer(given), scope),
        ProviderStoreService
      )
      const created = Context.get(
        yield* Layer.buildWithScope(ProviderStoreService.layerMemory(), scope),
        ProviderStoreService
      )
      const datastoreBacked = Context.get(
        yield* Layer.buildWithScope(ProviderStoreService.layerDatastore(new MemoryDatastore()), scope),
        ProviderStoreService
      )
      yield* Scope.close(scope, Exit.void)

      expect(given.closes).toBe(0)
      yield* wrapped.addProvider(key, { id: peer, multiaddrs: [] })
      for (const service of [created, datastoreBacked]) {
        const error = yield* Effect.flip(service.addProvider(key, { id: peer, multiaddrs: [] }))
        expect(error).toBeInstanceOf(DHTClosedError)
      }
      // the cleanup fiber went with the scope
      yield* advance("3 hours")
      expect(given.cleanups).toBe(0)
    })
  )

  it.scoped("keeps cleaning after a failed pass, and stops once the store is closed", () =>
    Effect.gen(function* () {
      const failing = new ObservedStore(new MemoryProviderStore())
      failing.failCleanup = true
      const closing = new ObservedStore(new MemoryProviderStore())
      yield* serviceOf(ProviderStoreService.layer(failing))
      yield* serviceOf(ProviderStoreService.layer(closing))
      yield* advance("1 hour")
      yield* Effect.promise(() => closing.close())
      yield* advance("1 hour")
      yield* advance("1 hour")
      expect(failing.cleanups).toBe(3)
      // one pass before the close, one that found it closed, then none
      expect(closing.cleanups).toBe(2)
    })
  )

  it.scoped("surfaces typed errors", () =>
    Effect.gen(function* () {
      const service = yield* serviceOf(ProviderStoreService.layerMemory())
      const badKey = yield* Effect.flip(service.getProviders(new Uint8Array(81)))
      expect(badKey).toBeInstanceOf(InvalidKeyError)
      const badLimit = yield* Effect.flip(service.getProviders(key, { limit: -2 }))
      expect(badLimit).toBeInstanceOf(InvalidOptionError)

      const broken: ProviderStore = {
        addProvider: () => Promise.reject(new TypeError("broken store")),
        getProviders: () => Promise.reject("not even an Error"),
        cleanup: () => Promise.reject(new InvalidKeyError({ key: new Uint8Array(0), reason: "misplaced" })),
        close: () => Promise.resolve()
      }
      const lifted = yield* ProviderStoreService.make(broken, { cleanupIntervalMillis: Number.POSITIVE_INFINITY })
      const added = yield* Effect.flip(lifted.addProvider(key, { id: peer, multiaddrs: [] }))
      expect(added).toBeInstanceOf(ProviderStoreError)
      expect(added._tag).toBe("ProviderStoreError")
      expect((added as ProviderStoreError).operation).toBe("addProvider")
      expect(((added as ProviderStoreError).cause as Error).message).toBe("broken store")
      const got = yield* Effect.flip(lifted.getProviders(key))
      expect(got).toBeInstanceOf(ProviderStoreError)
      expect((got as ProviderStoreError).cause).toBe("not even an Error")
      // cleanup has no key to be wrong about, so even a key error is a store failure there
      const cleaned = yield* Effect.flip(lifted.cleanup)
      expect(cleaned).toBeInstanceOf(ProviderStoreError)
    })
  )

  it.scoped("fails to build with InvalidOptionError for bad options", () =>
    Effect.gen(function* () {
      const badInterval = yield* Effect.flip(
        serviceOf(ProviderStoreService.layer(new MemoryProviderStore(), { cleanupIntervalMillis: 0 }))
      )
      expect(badInterval).toBeInstanceOf(InvalidOptionError)
      expect(badInterval.field).toBe("cleanupIntervalMillis")
      const badBound = yield* Effect.flip(serviceOf(ProviderStoreService.layerMemory({ maxKeys: 0 })))
      expect(badBound.field).toBe("maxKeys")
      const badTtl = yield* Effect.flip(
        serviceOf(ProviderStoreService.layerDatastore(new MemoryDatastore(), { providerAddrTTL: -1 }))
      )
      expect(badTtl.field).toBe("providerAddrTTL")
    })
  )
})
