/**
 * Expiry, merge and selection rules shared by the SDK's provider stores, so
 * that the memory and datastore stores answer identically.
 *
 * @internal
 * @module
 */
import { InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import {
  DEFAULT_PROVIDE_VALIDITY_MILLIS,
  DEFAULT_PROVIDER_ADDR_TTL_MILLIS,
  type GetProvidersOptions,
  type ProviderStoreOptions,
  validateProviderKey
} from "../../store/provider-store.js"

/** Resolved timing of a store, in milliseconds. */
export interface Timing {
  readonly validity: number
  readonly addrTTL: number
  readonly now: () => number
}

/** One provider of one key as a store keeps it. */
export interface StoredProvider {
  readonly id: PeerId
  /** `id.toString()`, kept because it is the map key and the ordering tie-break. */
  readonly idString: string
  readonly multiaddrs: ReadonlyArray<Multiaddr>
  readonly addedAt: number
  readonly addrsAddedAt: number
}

const durationMillis = (field: string, input: Duration.DurationInput | undefined, fallback: number): number => {
  if (input === undefined) return fallback
  // Duration clamps negative numbers to zero; a negative setting is a mistake worth reporting.
  if (typeof input === "number" && !(input >= 0)) {
    throw new InvalidOptionError({ field, reason: "must be a non-negative duration" })
  }
  let millis: number
  try {
    millis = Duration.toMillis(input)
  } catch (cause) {
    throw new InvalidOptionError({ field, reason: `not a duration: ${String(cause)}` })
  }
  if (Number.isNaN(millis) || millis < 0) {
    throw new InvalidOptionError({ field, reason: "must be a non-negative duration" })
  }
  return millis
}

/** Validates timing options; throws `InvalidOptionError` naming the bad field. */
export const resolveTiming = (options: ProviderStoreOptions | undefined): Timing => {
  const validity = durationMillis("provideValidity", options?.provideValidity, DEFAULT_PROVIDE_VALIDITY_MILLIS)
  if (validity === 0) throw new InvalidOptionError({ field: "provideValidity", reason: "must be positive" })
  const addrTTL = durationMillis("providerAddrTTL", options?.providerAddrTTL, DEFAULT_PROVIDER_ADDR_TTL_MILLIS)
  const now = options?.now ?? Date.now
  if (typeof now !== "function") throw new InvalidOptionError({ field: "now", reason: "must be a function" })
  return { validity, addrTTL, now }
}

/** Validates a bound option: a positive integer, or the default when absent. */
export const positiveInteger = (field: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError({ field, reason: "must be a positive integer" })
  }
  return value
}

/** Validates a size option that may be zero. */
export const nonNegativeInteger = (field: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError({ field, reason: "must be a non-negative integer" })
  }
  return value
}

/** Throws core's `InvalidKeyError` for a key of the wrong length. */
export const assertProviderKey = (key: Uint8Array): void => {
  const checked = validateProviderKey(key)
  if (Either.isLeft(checked)) throw checked.left
}

/** The effective limit of a `getProviders` call; throws `InvalidOptionError` for a bad one. */
export const resolveLimit = (options: GetProvidersOptions | undefined): number => {
  const limit = options?.limit
  if (limit === undefined || limit === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new InvalidOptionError({ field: "limit", reason: "must be a non-negative integer" })
  }
  return limit
}

/** The current time as a whole number of milliseconds (the datastore encodes integers). */
export const currentMillis = (timing: Timing): number => Math.floor(timing.now())

/** Whether an entry is still served at `now`. */
export const isLive = (entry: StoredProvider, now: number, timing: Timing): boolean =>
  now - entry.addedAt < timing.validity

const uniqueAddrs = (addrs: ReadonlyArray<Multiaddr>): ReadonlyArray<Multiaddr> => {
  if (addrs.length < 2) return addrs.slice()
  const seen = new Set<string>()
  const out: Array<Multiaddr> = []
  for (const addr of addrs) {
    const text = addr.toString()
    if (seen.has(text)) continue
    seen.add(text)
    out.push(addr)
  }
  return out
}

/**
 * The entry after `provider` is (re-)added at `now`. An expired previous
 * entry counts as absent; an add without addresses keeps the previous live
 * entry's addresses and their age, because re-announcing must not make old
 * addresses look fresh.
 */
export const mergeProvider = (
  previous: StoredProvider | undefined,
  provider: PeerInfo,
  now: number,
  timing: Timing
): StoredProvider => {
  const idString = provider.id.toString()
  if (provider.multiaddrs.length > 0) {
    return { id: provider.id, idString, multiaddrs: uniqueAddrs(provider.multiaddrs), addedAt: now, addrsAddedAt: now }
  }
  if (previous !== undefined && isLive(previous, now, timing)) {
    return {
      id: provider.id,
      idString,
      multiaddrs: previous.multiaddrs,
      addedAt: now,
      addrsAddedAt: previous.addrsAddedAt
    }
  }
  return { id: provider.id, idString, multiaddrs: [], addedAt: now, addrsAddedAt: now }
}

const byRecency = (a: StoredProvider, b: StoredProvider): number => {
  if (a.addedAt !== b.addedAt) return b.addedAt - a.addedAt
  return a.idString < b.idString ? -1 : a.idString > b.idString ? 1 : 0
}

/**
 * The answer to `getProviders`: live entries, most recently added first (ties
 * by peer ID so every store orders alike), at most `limit`, with addresses
 * only while they are younger than the address TTL.
 */
export const selectProviders = (
  entries: Iterable<StoredProvider>,
  now: number,
  timing: Timing,
  limit: number
): Array<PeerInfo> => {
  if (limit === 0) return []
  const live: Array<StoredProvider> = []
  for (const entry of entries) if (isLive(entry, now, timing)) live.push(entry)
  live.sort(byRecency)
  const count = Math.min(live.length, limit)
  const out = new Array<PeerInfo>(count)
  for (let i = 0; i < count; i++) {
    const entry = live[i]
    out[i] = { id: entry.id, multiaddrs: now - entry.addrsAddedAt < timing.addrTTL ? entry.multiaddrs : [] }
  }
  return out
}

/**
 * A least-recently-used map bounded by entry count. A capacity of 0 keeps
 * nothing, which disables caching.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()

  constructor(readonly capacity: number) {}

  /** The value, marking it most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key)
    if (value === undefined) return undefined
    this.map.delete(key)
    this.map.set(key, value)
    return value
  }

  /** The value, without touching its recency. */
  peek(key: K): V | undefined {
    return this.map.get(key)
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next()
      if (!oldest.done) this.map.delete(oldest.value)
    }
  }

  delete(key: K): void {
    this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }

  get size(): number {
    return this.map.size
  }
}
