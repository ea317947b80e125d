/**
 * A bounded in-memory provider store.
 *
 * @module
 */
import { DHTClosedError, type PeerInfo } from "@effect-kad/core"
import { base32 } from "multiformats/bases/base32"
import {
  assertProviderKey,
  currentMillis,
  isLive,
  mergeProvider,
  positiveInteger,
  resolveLimit,
  resolveTiming,
  type StoredProvider,
  selectProviders,
  type Timing
} from "../internal/store/entries.js"
import type { GetProvidersOptions, ProviderStore, ProviderStoreOptions, ProviderStoreStats } from "./provider-store.js"

/** Default {@link MemoryProviderStoreOptions.maxKeys}. */
export const DEFAULT_MAX_PROVIDER_KEYS = 100_000

/** Default {@link MemoryProviderStoreOptions.maxProvidersPerKey}. */
export const DEFAULT_MAX_PROVIDERS_PER_KEY = 1_000

/** Options of {@link MemoryProviderStore}. */
export interface MemoryProviderStoreOptions extends ProviderStoreOptions {
  /**
   * Most keys kept at once. Adding a new key to a full store drops the key
   * that was least recently added to, with all its providers. Default
   * 100 000 keys: at a few hundred bytes per provider entry this keeps a
   * typical store (a handful of providers per key) well under 100 MB.
   */
  readonly maxKeys?: number
  /**
   * Most providers kept for one key. Adding a new provider to a full key
   * drops the provider that was least recently (re-)added. Default 1 000,
   * more than a `GET_PROVIDERS` answer usefully carries.
   */
  readonly maxProvidersPerKey?: number
}

/** Entry counts of a {@link MemoryProviderStore}, expired entries included until `cleanup()`. */
export type MemoryProviderStoreStats = ProviderStoreStats

/**
 * Keeps provider records in memory, bounded by key count and providers per
 * key. Expired entries stop being served at once and are freed by
 * `cleanup()` (which `ProviderStoreService` runs periodically) or by eviction.
 *
 * @example
 * ```ts
 * const providerStore = new MemoryProviderStore({ maxKeys: 10_000 })
 * await providerStore.addProvider(cid.multihash.bytes, { id: peerId, multiaddrs })
 * await providerStore.getProviders(cid.multihash.bytes, { limit: 20 })
 * await providerStore.cleanup()
 * await providerStore.close()
 * ```
 */
export class MemoryProviderStore implements ProviderStore {
  private readonly timing: Timing
  private readonly maxKeys: number
  private readonly maxProvidersPerKey: number
  // Both maps iterate in insertion order, and entries are re-inserted on every
  // add, so the first entry is always the least recently added: eviction is O(1).
  private readonly keys = new Map<string, Map<string, StoredProvider>>()
  private providerCount = 0
  private closed = false

  /** @throws core's `InvalidOptionError` naming the first invalid option. */
  constructor(options?: MemoryProviderStoreOptions) {
    this.timing = resolveTiming(options)
    this.maxKeys = positiveInteger("maxKeys", options?.maxKeys, DEFAULT_MAX_PROVIDER_KEYS)
    this.maxProvidersPerKey = positiveInteger(
      "maxProvidersPerKey",
      options?.maxProvidersPerKey,
      DEFAULT_MAX_PROVIDERS_PER_KEY
    )
  }

  async addProvider(key: Uint8Array, provider: PeerInfo): Promise<void> {
    this.ensureOpen("addProvider")
    assertProviderKey(key)
    const now = currentMillis(this.timing)
    const keyString = base32.baseEncode(key)
    let providers = this.keys.get(keyString)
    if (providers === undefined) {
      if (this.keys.size >= this.maxKeys) this.evictOldestKey()
      providers = new Map()
    } else {
      this.keys.delete(keyString)
    }
    this.keys.set(keyString, providers)

    const next = mergeProvider(providers.get(provider.id.toString()), provider, now, this.timing)
    if (providers.delete(next.idString)) {
      this.providerCount--
    } else if (providers.size >= this.maxProvidersPerKey) {
      const oldest = providers.keys().next()
      if (!oldest.done) {
        providers.delete(oldest.value)
        this.providerCount--
      }
    }
    providers.set(next.idString, next)
    this.providerCount++
  }

  async getProviders(key: Uint8Array, options?: GetProvidersOptions): Promise<Array<PeerInfo>> {
    this.ensureOpen("getProviders")
    assertProviderKey(key)
    const limit = resolveLimit(options)
    const providers = this.keys.get(base32.baseEncode(key))
    if (providers === undefined) return []
    return selectProviders(providers.values(), currentMillis(this.timing), this.timing, limit)
  }

  async cleanup(): Promise<number> {
    this.ensureOpen("cleanup")
    const now = currentMillis(this.timing)
    let removed = 0
    for (const [keyString, providers] of this.keys) {
      for (const [idString, entry] of providers) {
        if (!isLive(entry, now, this.timing)) {
          providers.delete(idString)
          removed++
        }
      }
      if (providers.size === 0) this.keys.delete(keyString)
    }
    this.providerCount -= removed
    return removed
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.keys.clear()
    this.providerCount = 0
  }

  /** How many keys and provider entries the store holds right now. */
  stats(): MemoryProviderStoreStats {
    return { keys: this.keys.size, providers: this.providerCount }
  }

  private evictOldestKey(): void {
    const oldest = this.keys.entries().next()
    if (oldest.done) return
    this.keys.delete(oldest.value[0])
    this.providerCount -= oldest.value[1].size
  }

  private ensureOpen(operation: string): void {
    if (this.closed) throw new DHTClosedError({ operation })
  }
}
