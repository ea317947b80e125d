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
import type { GetProvidersOptions, ProviderStore, ProviderStoreOptions, ProviderStoreStats } from "./provider-store.js"

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
 * `stats()` counts the entries once, at its first call, and from then on
 * every add and removal keeps the counts current: a metrics scrape reads
 * no datastore, and a store nobody asks pays nothing for counting.
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
  // Sizes for stats(), undefined until its first call has counted them;
  // from then on kept current by every add and removal.
  private counts: { keys: number; providers: number } | undefined
  private counting: Promise<ProviderStoreStats> | undefined
  // Operations start once this settles. Counting holds them back, so no
  // change is both seen by the count's walk and counted by itself.
  private gate: Promise<void> = Promise.resolve()

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
        // whether the datastore holds this entry, when it was read for the previous one
        let present: boolean | undefined
        // The previous entry only matters when its addresses may be kept.
        if (provider.multiaddrs.length === 0) {
          const cached = this.cache.peek(entryKey.keyPart)
          if (cached !== undefined) previous = cached.get(provider.id.toString())
          else ({ present, entry: previous } = await this.readEntry(entryKey))
        }
        const next = mergeProvider(previous, provider, now, this.timing)
        const growth = this.counts === undefined ? undefined : await this.growthOf(entryKey, next.idString, present)
        await this.datastore.put(entryKey.key, encodeEntry(next))
        this.cache.peek(entryKey.keyPart)?.set(next.idString, next)
        if (growth !== undefined) this.recount(growth.entry ? 1 : 0, growth.key ? 1 : 0)
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
          // a set that still has undeleted corrupt entries beside it is no mirror of the datastore
          if (loaded.complete) this.cache.set(keyPart, loaded.entries)
          return loaded.entries
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

  /**
   * How many keys and provider entries the store holds, expired and
   * unreadable entries included until a read or cleanup deletes them. The
   * first call walks the store's keys once while other operations wait;
   * later calls answer from counts that adds and removals keep current.
   * Rejects with `ProviderStoreError` (operation `"stats"`) when that walk
   * fails (the next call walks again), and with `DHTClosedError` after
   * `close()`.
   *
   * @example
   * ```ts
   * const { keys, providers } = await providerStore.stats()
   * ```
   */
  stats(): Promise<ProviderStoreStats> {
    if (this.closing !== undefined) return Promise.reject(new DHTClosedError({ operation: "stats" }))
    if (this.counts !== undefined) return Promise.resolve({ ...this.counts })
    if (this.counting === undefined) {
      // operations already running finish first; later ones wait on the gate
      const counting = Promise.allSettled([this.gate, ...this.inflight])
        .then(() => this.countEntries())
        .then(
          (counts) => {
            this.counts = counts
            return { ...counts }
          },
          (cause: unknown) => {
            this.counting = undefined
            throw new ProviderStoreError({ operation: "stats", cause })
          }
        )
      this.counting = counting
      this.gate = counting.then(
        () => undefined,
        () => undefined
      )
    }
    return this.counting
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = Promise.allSettled([...this.inflight, this.gate]).then(() => {
        this.cache.clear()
      })
    }
    return this.closing
  }

  private run<A>(operation: string, body: () => Promise<A>): Promise<A> {
    if (this.closing !== undefined) return Promise.reject(new DHTClosedError({ operation }))
    const promise = this.gate.then(body).catch((cause: unknown) => {
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

  /**
   * What the datastore holds under `entryKey`: nothing (`present` false), or
   * a value with its entry, undefined when unreadable (such values still
   * count in `stats()` until deleted).
   */
  private async readEntry(
    entryKey: EntryKey
  ): Promise<{ readonly present: boolean; readonly entry: StoredProvider | undefined }> {
    let value: Uint8Array
    try {
      value = await this.datastore.get(entryKey.key)
    } catch (cause) {
      if (isNotFound(cause)) return { present: false, entry: undefined }
      throw cause
    }
    return { present: true, entry: decodeEntry(entryKey, value) }
  }

  /**
   * The readable entries of a key, deleting the unreadable ones found
   * beside them; `complete` unless that deletion failed.
   */
  private async loadKey(
    keyPart: string
  ): Promise<{ readonly entries: Map<string, StoredProvider>; readonly complete: boolean }> {
    const entries = new Map<string, StoredProvider>()
    const corrupt: Array<Key> = []
    // those of the corrupt keys shaped like entries, which the counts include
    let counted = 0
    for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/${keyPart}/` })) {
      const entryKey = this.parseEntryKey(key)
      const entry = entryKey === undefined ? undefined : decodeEntry(entryKey, value)
      if (entry !== undefined) entries.set(entry.idString, entry)
      else {
        corrupt.push(key)
        if (entryKey !== undefined) counted++
      }
    }
    if (corrupt.length === 0) return { entries, complete: true }
    try {
      const batch = this.datastore.batch()
      for (const key of corrupt) batch.delete(key)
      await batch.commit()
    } catch {
      // Best effort: the read already skipped them, and a later read or cleanup retries.
      return { entries, complete: false }
    }
    if (counted > 0) this.recount(-counted, entries.size === 0 ? -1 : 0)
    return { entries, complete: true }
  }

  /**
   * Whether adding the provider `idString` under `entryKey` creates an
   * entry, and whether it is the key's first; from the cached set when
   * there is one (it mirrors the datastore), else from the datastore
   * (`present`: what a read of the entry just found, if one was made).
   */
  private async growthOf(
    entryKey: EntryKey,
    idString: string,
    present: boolean | undefined
  ): Promise<{ entry: boolean; key: boolean }> {
    const cached = this.cache.peek(entryKey.keyPart)
    if (cached !== undefined) return { entry: !cached.has(idString), key: cached.size === 0 }
    if (present ?? (await this.datastore.has(entryKey.key))) return { entry: false, key: false }
    return { entry: true, key: !(await this.holdsKey(entryKey.keyPart)) }
  }

  /** Whether any entry of the key is left in the datastore. */
  private async holdsKey(keyPart: string): Promise<boolean> {
    for await (const key of this.datastore.queryKeys({ prefix: `${this.prefix}/${keyPart}/` })) {
      if (this.parseEntryKey(key) !== undefined) return true
    }
    return false
  }

  /** The walk behind the first stats(): every key shaped like an entry, readable or not. */
  private async countEntries(): Promise<{ keys: number; providers: number }> {
    const keyParts = new Set<string>()
    let providers = 0
    for await (const key of this.datastore.queryKeys({ prefix: `${this.prefix}/` })) {
      const entryKey = this.parseEntryKey(key)
      if (entryKey === undefined) continue
      providers++
      keyParts.add(entryKey.keyPart)
    }
    return { keys: keyParts.size, providers }
  }

  /** Moves the counts, once there are counts to keep. */
  private recount(providers: number, keys: number): void {
    if (this.counts === undefined) return
    this.counts.providers += providers
    this.counts.keys += keys
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
        // deleted keys shaped like entries (debris is not), which the counts include
        let counted = 0
        for (const entryKey of group) {
          const { present, entry } = await this.readEntry(entryKey)
          if (!present) continue
          if (entry !== undefined && isLive(entry, now, this.timing)) continue
          batch.delete(entryKey.key)
          if (entry !== undefined) gone.push(entry.idString)
          if (entryKey.peerPart !== "") counted++
          count++
        }
        if (count === 0) return 0
        await batch.commit()
        const cached = this.cache.peek(keyPart)
        if (cached !== undefined) for (const idString of gone) cached.delete(idString)
        if (counted > 0 && this.counts !== undefined) {
          this.recount(-counted, (await this.holdsKey(keyPart)) ? 0 : -1)
        }
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
