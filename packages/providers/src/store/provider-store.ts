/**
 * The provider store contract: where a DHT server keeps the provider records
 * other peers announce with `ADD_PROVIDER` and answers `GET_PROVIDERS` from.
 *
 * It is a plain Promise interface so that applications can bring their own
 * storage without touching Effect; `ProviderStoreService` lifts any
 * implementation into an Effect service.
 *
 * @module
 */
import { InvalidKeyError, type PeerInfo } from "@effect-kad/core"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"

/** Options for {@link ProviderStore.getProviders}. */
export interface GetProvidersOptions {
  /**
   * At most this many providers, most recently added first. A non-negative
   * integer (or `Infinity`); omitted means all of them.
   */
  readonly limit?: number
}

/**
 * Storage for provider records, keyed by the multihash bytes of a CID.
 *
 * Implementations must reject keys outside {@link MIN_PROVIDER_KEY_BYTES}..
 * {@link MAX_PROVIDER_KEY_BYTES} bytes with core's `InvalidKeyError` (the
 * `ADD_PROVIDER` handler relies on it), must never return a provider whose
 * entry has expired, and must fail every operation after `close()` with
 * core's `DHTClosedError`.
 *
 * @example
 * ```ts
 * const providerStore = new MemoryProviderStore()
 * await providerStore.addProvider(cid.multihash.bytes, { id: peerId, multiaddrs: [addr] })
 * const providers = await providerStore.getProviders(cid.multihash.bytes, { limit: 20 })
 * await providerStore.cleanup()
 * await providerStore.close()
 * ```
 */
export interface ProviderStore {
  /**
   * Records (or refreshes) `provider` as a provider of `key`. Non-empty
   * addresses replace the ones stored before; an add without addresses keeps
   * the previous ones until their own TTL ends.
   */
  addProvider(key: Uint8Array, provider: PeerInfo): Promise<void>
  /**
   * The live providers of `key`, most recently added first. A provider whose
   * addresses are older than the address TTL comes back with its peer ID only.
   */
  getProviders(key: Uint8Array, options?: GetProvidersOptions): Promise<Array<PeerInfo>>
  /** Deletes expired entries and resolves with how many entries were removed. */
  cleanup(): Promise<number>
  /** Releases the store. Idempotent; later operations fail with `DHTClosedError`. */
  close(): Promise<void>
  /**
   * How many keys and provider entries the store holds, expired entries
   * included until a cleanup removes them. Optional: the DHT's metrics
   * report provider store sizes only for stores that can count themselves
   * without reading every entry on each scrape.
   */
  stats?(): ProviderStoreStats | Promise<ProviderStoreStats>
}

/**
 * The size of a provider store: keys with at least one provider entry, and
 * the entries over all keys.
 *
 * @example
 * ```ts
 * const { keys, providers } = await providerStore.stats()
 * ```
 */
export interface ProviderStoreStats {
  readonly keys: number
  readonly providers: number
}

/** Timing options shared by the SDK's provider stores. */
export interface ProviderStoreOptions {
  /**
   * How long an entry lives after it was (last) added. Default 48 hours, the
   * expiration interval of the IPFS DHT.
   */
  readonly provideValidity?: Duration.DurationInput
  /**
   * How long a provider's addresses are handed out after they were added;
   * afterwards results carry the peer ID only, so that askers do not dial
   * stale addresses. Default 24 hours. `0` never hands out addresses.
   */
  readonly providerAddrTTL?: Duration.DurationInput
  /** Milliseconds since the Unix epoch; injectable so tests can move time. Default `Date.now`. */
  readonly now?: () => number
}

/** Shortest accepted provider key in bytes. */
export const MIN_PROVIDER_KEY_BYTES = 1

/**
 * Longest accepted provider key in bytes: room for any multihash in use
 * (a 64-byte digest plus its code and length varints) while refusing
 * arbitrarily large keys from remote peers.
 */
export const MAX_PROVIDER_KEY_BYTES = 80

/** Default {@link ProviderStoreOptions.provideValidity}: 48 hours, in milliseconds. */
export const DEFAULT_PROVIDE_VALIDITY_MILLIS = 48 * 60 * 60 * 1000

/** Default {@link ProviderStoreOptions.providerAddrTTL}: 24 hours, in milliseconds. */
export const DEFAULT_PROVIDER_ADDR_TTL_MILLIS = 24 * 60 * 60 * 1000

/**
 * Checks that `key` has an acceptable length for a provider key.
 *
 * @example
 * ```ts
 * const checked = validateProviderKey(message.key)
 * if (Either.isLeft(checked)) return yield* checked.left
 * ```
 */
export const validateProviderKey = (key: Uint8Array): Either.Either<Uint8Array, InvalidKeyError> => {
  if (!(key instanceof Uint8Array)) {
    return Either.left(new InvalidKeyError({ key: new Uint8Array(0), reason: "a provider key must be a Uint8Array" }))
  }
  if (key.byteLength < MIN_PROVIDER_KEY_BYTES || key.byteLength > MAX_PROVIDER_KEY_BYTES) {
    return Either.left(
      new InvalidKeyError({
        key,
        reason: `a provider key must have ${MIN_PROVIDER_KEY_BYTES} to ${MAX_PROVIDER_KEY_BYTES} bytes`
      })
    )
  }
  return Either.right(key)
}
