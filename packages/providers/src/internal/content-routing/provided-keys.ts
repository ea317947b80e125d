/**
 * The keys this node provides and keeps reproviding, with the reprovide
 * sweep's position, optionally persisted in a Datastore so that a restarted
 * node reprovides them without the application providing them again.
 *
 * Layout under the prefix (default `/provided`):
 * `/provided/keys/<base32 multihash>` (empty value) for each key, and
 * `/provided/sweep` for the sweep position (cycle start, then the Kad ID
 * the next region starts at).
 *
 * @module
 */

import { compareBytes, KAD_ID_BYTES, type KadId, kadIdOfKey } from "@effect-kad/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Datastore, Key } from "interface-datastore"
import { base32 } from "multiformats/bases/base32"
import { toString as uint8ArrayToString } from "uint8arrays/to-string"
import { ProviderStoreError } from "../../store/errors.js"

/** Default datastore namespace of the provided keys. */
export const DEFAULT_PROVIDED_KEYS_PREFIX = "/provided"

/** A provided key with its Kad ID, which orders the sweep. */
export interface ProvidedKey {
  /** The multihash bytes (the DHT key). */
  readonly key: Uint8Array
  readonly kadId: KadId
}

/** Where a reprovide sweep stands: persisted after every region. */
export interface SweepPosition {
  /** When the current cycle started, in milliseconds since the epoch. */
  readonly cycleStart: number
  /** The Kad ID the next region starts at; keys before it were reprovided in this cycle. */
  readonly cursor: Uint8Array
}

/** The start of the keyspace. */
export const KEYSPACE_START: Uint8Array = new Uint8Array(KAD_ID_BYTES)

/** The last Kad ID: a cursor there means every key of the cycle is done. */
export const KEYSPACE_END: Uint8Array = new Uint8Array(KAD_ID_BYTES).fill(0xff)

const hexOf = (key: Uint8Array): string => uint8ArrayToString(key, "base16")

const SWEEP_BYTES = 8 + KAD_ID_BYTES

const encodePosition = (position: SweepPosition): Uint8Array => {
  const out = new Uint8Array(SWEEP_BYTES)
  new DataView(out.buffer).setFloat64(0, position.cycleStart)
  out.set(position.cursor.subarray(0, KAD_ID_BYTES), 8)
  return out
}

const decodePosition = (bytes: Uint8Array): Option.Option<SweepPosition> => {
  if (bytes.byteLength !== SWEEP_BYTES) return Option.none()
  const cycleStart = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0)
  if (!Number.isFinite(cycleStart)) return Option.none()
  return Option.some({ cycleStart, cursor: bytes.slice(8) })
}

/**
 * The provided keys: an in-memory index ordered by Kad ID on demand, written
 * through to a Datastore when one is given. A key counts as provided only
 * once it is stored, so a failed write never leaves the two disagreeing.
 *
 * @example
 * ```ts
 * const keys = yield* ProvidedKeys.load(datastore)
 * yield* keys.add([cid.multihash.bytes])
 * keys.sorted() // by Kad ID
 * ```
 */
export class ProvidedKeys {
  private readonly byHex = new Map<string, ProvidedKey>()
  private ordered: Array<ProvidedKey> | undefined

  private constructor(
    private readonly datastore: Datastore | undefined,
    private readonly prefix: string
  ) {}

  /** The keys stored in `datastore` (none without one). */
  static load(
    datastore: Datastore | undefined,
    prefix: string = DEFAULT_PROVIDED_KEYS_PREFIX
  ): Effect.Effect<ProvidedKeys, ProviderStoreError> {
    const keys = new ProvidedKeys(datastore, prefix)
    return keys.onDatastore("loadProvidedKeys", keys, async (store) => {
      const base = `${prefix}/keys/`
      for await (const name of store.queryKeys({ prefix: base })) {
        const encoded = name.toString().slice(base.length)
        try {
          keys.remember(base32.baseDecode(encoded))
        } catch {
          // an entry that is not ours (or damaged) is left alone rather than failing the start
        }
      }
      return keys
    })
  }

  /**
   * Runs `io` on the datastore, a failure becoming a `ProviderStoreError`
   * of `operation`; without a datastore, answers `absent`.
   */
  private onDatastore<A>(
    operation: string,
    absent: A,
    io: (datastore: Datastore) => Promise<A>
  ): Effect.Effect<A, ProviderStoreError> {
    const datastore = this.datastore
    if (datastore === undefined) return Effect.succeed(absent)
    return Effect.tryPromise({
      try: () => io(datastore),
      catch: (cause) => new ProviderStoreError({ operation, cause })
    })
  }

  private remember(key: Uint8Array): boolean {
    const hex = hexOf(key)
    if (this.byHex.has(hex)) return false
    this.byHex.set(hex, { key, kadId: kadIdOfKey(key) })
    this.ordered = undefined
    return true
  }

  private keyName(key: Uint8Array): Key {
    return new Key(`${this.prefix}/keys/${base32.baseEncode(key)}`)
  }

  /** How many keys are provided. */
  get size(): number {
    return this.byHex.size
  }

  /** Whether `key` is provided. */
  has(key: Uint8Array): boolean {
    return this.byHex.has(hexOf(key))
  }

  /** Every provided key, in no particular order. */
  keys(): Array<Uint8Array> {
    return [...this.byHex.values()].map((entry) => entry.key)
  }

  /** The keys ordered by Kad ID; the array is shared until the set changes. */
  sorted(): ReadonlyArray<ProvidedKey> {
    if (this.ordered === undefined) {
      this.ordered = [...this.byHex.values()].sort((a, b) => compareBytes(a.kadId, b.kadId))
    }
    return this.ordered
  }

  /** Index in {@link sorted} of the first key whose Kad ID is at or after `position`. */
  lowerBound(position: Uint8Array): number {
    const sorted = this.sorted()
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareBytes(sorted[mid].kadId, position) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Adds keys (persisting the new ones in one batch first); answers how many were new. */
  add(keys: ReadonlyArray<Uint8Array>): Effect.Effect<number, ProviderStoreError> {
    return Effect.suspend(() => {
      const fresh = new Map<string, Uint8Array>()
      for (const key of keys) {
        const hex = hexOf(key)
        if (!this.byHex.has(hex)) fresh.set(hex, key)
      }
      if (fresh.size === 0) return Effect.succeed(0)
      const write = this.onDatastore("persistProvidedKeys", undefined, async (datastore) => {
        const batch = datastore.batch()
        for (const key of fresh.values()) batch.put(this.keyName(key), new Uint8Array(0))
        await batch.commit()
      })
      return Effect.as(
        Effect.tap(write, () =>
          Effect.sync(() => {
            for (const key of fresh.values()) this.remember(key)
          })
        ),
        fresh.size
      )
    })
  }

  /** Forgets `key` (in the datastore too); answers whether it was provided. */
  remove(key: Uint8Array): Effect.Effect<boolean, ProviderStoreError> {
    return Effect.suspend(() => {
      const hex = hexOf(key)
      if (!this.byHex.has(hex)) return Effect.succeed(false)
      const erase = this.onDatastore("forgetProvidedKey", undefined, async (datastore) => {
        await datastore.delete(this.keyName(key))
      })
      return Effect.as(
        Effect.tap(erase, () =>
          Effect.sync(() => {
            this.byHex.delete(hex)
            this.ordered = undefined
          })
        ),
        true
      )
    })
  }

  /** The sweep position saved last, if any (and readable). */
  readonly loadPosition: Effect.Effect<Option.Option<SweepPosition>, ProviderStoreError> = Effect.suspend(() => {
    const name = new Key(`${this.prefix}/sweep`)
    return this.onDatastore("loadSweepPosition", Option.none(), async (datastore) =>
      (await datastore.has(name)) ? decodePosition(await datastore.get(name)) : Option.none()
    )
  })

  /** Saves the sweep position (nothing without a datastore). */
  savePosition(position: SweepPosition): Effect.Effect<void, ProviderStoreError> {
    return this.onDatastore("saveSweepPosition", undefined, async (datastore) => {
      await datastore.put(new Key(`${this.prefix}/sweep`), encodePosition(position))
    })
  }
}
