/**
 * A durable provider store over any `interface-datastore` Datastore.
 *
 * @module
 */
import { DHTClosedError, InvalidKeyError, InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromMultihash } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { type Datastore, Key } from "interface-datastore"
import { base32 } from "multiformats/bases/base32"
import * as Digest from "multiformats/hashes/digest"
import {
  assertProviderKey,
  currentMillis,
  isLive,
  Lru,
  mergeProvider,
  nonNegativeInteger,
  resolveLimit,
  resolveTiming,
  type StoredProvider,
  selectProviders,
  type Timing
} from "../internal/store/entries.js"
import { ProviderStoreError } from "./errors.js"
import { ProviderEntry } from "./provider-entry.generated.js"
import type { GetProvidersOptions, ProviderStore, ProviderStoreOptions } from "./provider-store.js"

/** Default {@link DatastoreProviderStoreOptions.cacheSize}. */
export const DEFAULT_PROVIDER_CACHE_KEYS = 256

/** Default {@link DatastoreProviderStoreOptions.prefix}. */
export const DEFAULT_PROVIDER_DATASTORE_PREFIX = "/providers"

/** Options of {@link DatastoreProviderStore}. */
export interface DatastoreProviderStoreOptions extends ProviderStoreOptions {
  /**
   * How many keys' provider sets are kept in an LRU cache in front of the
   * datastore; `0` disables the cache. Default 256, which absorbs repeated
   * `GET_PROVIDERS` for popular keys without holding much memory.
   */
  readonly cacheSize?: number
  /**
   * Datastore namespace the entries live under, so one datastore can be
   * shared with other data. Default `/providers`.
   */
  readonly prefix?: string
}

// Deletions found by a cleanup walk are applied in chunks so the walk never
// accumulates an unbounded list of keys.
const CLEANUP_CHUNK = 1024

interface EntryKey {
  readonly key: Key
  readonly keyPart: string
  readonly peerPart: string
}

/**
 * Keeps provider records in a Datastore under
 * `/providers/<base32 key>/<base32 peer multihash>`, each value a small
 * protobuf (added-at time, addresses' added-at time, binary multiaddrs), with
 * an LRU cache of whole provider sets in front for `getProviders`.
 *
 * The store does not open or close the datastore: the caller owns it. Close
 * the provider store first (it waits for its in-flight operations), then the
 * datastore. Unreadable values are skipped and deleted rather than failing a
 * read, so one corrupt entry never hides the others.
 *
 * @example
 * ```ts
 * const datastore = new LevelDatastore("./providers-db")
 * await datastore.open()
 * const providerStore = new DatastoreProviderStore(datastore)
 * await providerStore.addProvider(cid.multihash.bytes, { id: peerId, multiaddrs })
 * await providerStore.close()
 * await datastore.close()
 * ```
 */
export class DatastoreProviderStore implements ProviderStore {
  private readonly timing: Timing
  private readonly prefix: string
  private readonly cache: Lru<string, Map<string, StoredProvider>>
  private readonly locks = new Map<string, Promise<void>>()
  private readonly inflight = new Set<Promise<unknown>>()
  private closing: Promise<void> | undefined

  /** @throws core's `InvalidOptionError` naming the first invalid option. */
  constructor(
    private readonly datastore: Datastore,
    options?: DatastoreProviderStoreOptions
  ) {
    this.timing = resolveTiming(options)
    this.cache = new Lru(nonNegativeInteger("cacheSize", options?.cacheSize, DEFAULT_PROVIDER_CACHE_KEYS))
    const prefix = options?.prefix ?? DEFAULT_PROVIDER_DATASTORE_PREFIX
    if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(prefix)) {
      throw new InvalidOptionError({ field: "prefix", reason: "must look like /name or /name/sub" })
    }
    this.prefix = prefix
  }

  addProvider(key: Uint8Array, provider: PeerInfo): Promise<void> {
    return this.run("addProvider", async () => {
      assertProviderKey(key)
      const entryKey = this.entryKey(base32.baseEncode(key), base32.baseEncode(provider.id.toMultihash().bytes))
      await this.withLock(entryKey.keyPart, async () => {
        const now = currentMillis(this.timing)
        let previous: StoredProvider | undefined
        // The previous entry only matters when its addresses may be kept.
        if (provider.multiaddrs.length === 0) {
          const cached = this.cache.peek(entryKey.keyPart)
          previous = cached !== undefined ? cached.get(provider.id.toString()) : await this.readEntry(entryKey)
        }
        const next = mergeProvider(previous, provider, now, this.timing)
        await this.datastore.put(entryKey.key, encodeEntry(next))
        this.cache.peek(entryKey.keyPart)?.set(next.idString, next)
      })
    })
  }

  getProviders(key: Uint8Array, options?: GetProvidersOptions): Promise<Array<PeerInfo>> {
    return this.run("getProviders", async () => {
      assertProviderKey(key)
      const limit = resolveLimit(options)
      const keyPart = base32.baseEncode(key)
      let entries = this.cache.get(keyPart)
      if (entries === undefined) {
        // Loading under the key's lock keeps a concurrent add from landing
        // between the query and the cache fill, which would hide it.
        entries = await this.withLock(keyPart, async () => {
          const cached = this.cache.get(keyPart)
          if (cached !== undefined) return cached
          const loaded = await this.loadKey(keyPart)
          this.cache.set(keyPart, loaded)
          return loaded
        })
      }
      return selectProviders(entries.values(), currentMillis(this.timing), this.timing, limit)
    })
  }

  cleanup(): Promise<number> {
    return this.run("cleanup", async () => {
      const now = currentMillis(this.timing)
      let removed = 0
      let stale: Array<EntryKey> = []
      for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/` })) {
        const entryKey = this.parseEntryKey(key)
        if (entryKey === undefined) {
          // Not shaped like an entry but inside our namespace: nothing else
          // writes here, so it is debris from a corrupted store.
          stale.push({ key, keyPart: "", peerPart: "" })
        } else {
          const entry = decodeEntry(entryKey, value)
          if (entry === undefined || !isLive(entry, now, this.timing)) stale.push(entryKey)
        }
        if (stale.length >= CLEANUP_CHUNK) {
          removed += await this.removeStale(stale, now)
          stale = []
        }
      }
      removed += await this.removeStale(stale, now)
      return removed
    })
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = Promise.allSettled([...this.inflight]).then(() => {
        this.cache.clear()
      })
    }
    return this.closing
  }

  private run<A>(operation: string, body: () => Promise<A>): Promise<A> {
    if (this.closing !== undefined) return Promise.reject(new DHTClosedError({ operation }))
    const promise = body().catch((cause: unknown) => {
      if (
        cause instanceof InvalidKeyError ||
        cause instanceof InvalidOptionError ||
        cause instanceof DHTClosedError ||
        cause instanceof ProviderStoreError
      ) {
        throw cause
      }
      throw new ProviderStoreError({ operation, cause })
    })
    this.inflight.add(promise)
    const forget = () => {
      this.inflight.delete(promise)
    }
    promise.then(forget, forget)
    return promise
  }

  // Serialises the operations on one key; the chain entry is dropped once the
  // last holder releases it, so idle keys cost nothing.
  private async withLock<A>(keyPart: string, body: () => Promise<A>): Promise<A> {
    const previous = this.locks.get(keyPart) ?? Promise.resolve()
    let release!: () => void
    const current = previous.then(
      () =>
        new Promise<void>((resolve) => {
          release = resolve
        })
    )
    this.locks.set(keyPart, current)
    await previous
    try {
      return await body()
    } finally {
      release()
      if (this.locks.get(keyPart) === current) this.locks.delete(keyPart)
    }
  }

  private entryKey(keyPart: string, peerPart: string): EntryKey {
    return { key: new Key(`${this.prefix}/${keyPart}/${peerPart}`, false), keyPart, peerPart }
  }

  private parseEntryKey(key: Key): EntryKey | undefined {
    const text = key.toString()
    const rest = text.slice(this.prefix.length + 1)
    const slash = rest.indexOf("/")
    if (slash <= 0 || slash === rest.length - 1 || rest.indexOf("/", slash + 1) !== -1) return undefined
    return { key, keyPart: rest.slice(0, slash), peerPart: rest.slice(slash + 1) }
  }

  private async readEntry(entryKey: EntryKey): Promise<StoredProvider | undefined> {
    let value: Uint8Array
    try {
      value = await this.datastore.get(entryKey.key)
    } catch (cause) {
      if (isNotFound(cause)) return undefined
      throw cause
    }
    return decodeEntry(entryKey, value)
  }

  private async loadKey(keyPart: string): Promise<Map<string, StoredProvider>> {
    const entries = new Map<string, StoredProvider>()
    const corrupt: Array<Key> = []
    for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/${keyPart}/` })) {
      const entryKey = this.parseEntryKey(key)
      const entry = entryKey === undefined ? undefined : decodeEntry(entryKey, value)
      if (entry === undefined) corrupt.push(key)
      else entries.set(entry.idString, entry)
    }
    if (corrupt.length > 0) {
      try {
        const batch = this.datastore.batch()
        for (const key of corrupt) batch.delete(key)
        await batch.commit()
      } catch {
        // Best effort: the read already skipped them, and cleanup retries.
      }
    }
    return entries
  }

  // Deletes the walk's candidates after re-checking each under its key's lock,
  // because an add may have refreshed one since the walk read it.
  private async removeStale(stale: ReadonlyArray<EntryKey>, now: number): Promise<number> {
    const byKey = new Map<string, Array<EntryKey>>()
    for (const entryKey of stale) {
      const group = byKey.get(entryKey.keyPart)
      if (group === undefined) byKey.set(entryKey.keyPart, [entryKey])
      else group.push(entryKey)
    }
    let removed = 0
    for (const [keyPart, group] of byKey) {
      removed += await this.withLock(keyPart, async () => {
        const batch = this.datastore.batch()
        const gone: Array<string> = []
        let count = 0
        for (const entryKey of group) {
          let value: Uint8Array
          try {
            value = await this.datastore.get(entryKey.key)
          } catch (cause) {
            if (isNotFound(cause)) continue
            throw cause
          }
          const entry = entryKey.peerPart === "" ? undefined : decodeEntry(entryKey, value)
          if (entry !== undefined && isLive(entry, now, this.timing)) continue
          batch.delete(entryKey.key)
          if (entry !== undefined) gone.push(entry.idString)
          count++
        }
        if (count === 0) return 0
        await batch.commit()
        const cached = this.cache.peek(keyPart)
        if (cached !== undefined) for (const idString of gone) cached.delete(idString)
        return count
      })
    }
    return removed
  }
}

const isNotFound = (cause: unknown): boolean =>
  cause instanceof Error && (cause.name === "NotFoundError" || (cause as { code?: unknown }).code === "ERR_NOT_FOUND")

const encodeEntry = (entry: StoredProvider): Uint8Array =>
  ProviderEntry.encode({
    addedAt: entry.addedAt,
    addrsAddedAt: entry.addrsAddedAt,
    addrs: entry.multiaddrs.map((addr) => addr.bytes as Uint8Array<ArrayBuffer>)
  })

/** The stored entry, or undefined when the key or value cannot be read back. */
const decodeEntry = (entryKey: EntryKey, value: Uint8Array): StoredProvider | undefined => {
  let id: PeerId
  let decoded: ProviderEntry
  try {
    id = peerIdFromMultihash(Digest.decode(base32.baseDecode(entryKey.peerPart)))
    decoded = ProviderEntry.decode(value)
  } catch {
    return undefined
  }
  const { addedAt, addrsAddedAt } = decoded
  if (addedAt === undefined || addrsAddedAt === undefined) return undefined
  if (!Number.isSafeInteger(addedAt) || !Number.isSafeInteger(addrsAddedAt)) return undefined
  const multiaddrs: Array<Multiaddr> = []
  for (const bytes of decoded.addrs) {
    try {
      multiaddrs.push(multiaddr(bytes))
    } catch {
      // An address this multiaddr version cannot parse; the peer ID and the
      // other addresses are still useful.
    }
  }
  return { id, idString: id.toString(), multiaddrs, addedAt, addrsAddedAt }
}
