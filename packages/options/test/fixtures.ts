/**
 * Shared test values: real peer IDs, and small working implementations of
 * the object-valued options (provider store, datastore, validator).
 */
import type { PeerInfo, Validator } from "@effect-kad/core"
import type { Batch, Datastore, KeyQuery, Pair, Query } from "interface-datastore"
import { Key } from "interface-datastore"
import type { ProviderStoreLike } from "../src/index.js"

/** Peer IDs of the public IPFS bootstrap nodes (RSA and Ed25519 forms). */
export const PEER_IDS = [
  "QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
  "QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM",
  "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
  "QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
  "QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
  "QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
  "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
] as const

/** A provider store keeping everything in a map. */
export class MapProviderStore implements ProviderStoreLike {
  readonly entries = new Map<string, Array<PeerInfo>>()
  closed = false

  async addProvider(key: Uint8Array, provider: PeerInfo): Promise<void> {
    const id = key.toString()
    const list = (this.entries.get(id) ?? []).filter((p) => !p.id.equals(provider.id))
    this.entries.set(id, [provider, ...list])
  }

  async getProviders(key: Uint8Array): Promise<ReadonlyArray<PeerInfo>> {
    return this.entries.get(key.toString()) ?? []
  }

  async cleanup(): Promise<number> {
    return 0
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

/** A synchronous in-memory `Datastore`. */
export class MapDatastore implements Datastore {
  private readonly data = new Map<string, Uint8Array>()

  put(key: Key, value: Uint8Array): Key {
    this.data.set(key.toString(), value)
    return key
  }

  get(key: Key): Uint8Array {
    const value = this.data.get(key.toString())
    if (value === undefined) throw Object.assign(new Error(`${key} not found`), { name: "NotFoundError" })
    return value
  }

  has(key: Key): boolean {
    return this.data.has(key.toString())
  }

  delete(key: Key): void {
    this.data.delete(key.toString())
  }

  *putMany(source: Iterable<Pair>): Generator<Key> {
    for (const { key, value } of source) yield this.put(key, value)
  }

  *getMany(source: Iterable<Key>): Generator<Pair> {
    for (const key of source) yield { key, value: this.get(key) }
  }

  *deleteMany(source: Iterable<Key>): Generator<Key> {
    for (const key of source) {
      this.delete(key)
      yield key
    }
  }

  batch(): Batch {
    const ops: Array<() => void> = []
    return {
      put: (key, value) => ops.push(() => this.put(key, value)),
      delete: (key) => ops.push(() => this.delete(key)),
      commit: () => {
        for (const op of ops) op()
      }
    }
  }

  *query(query: Query): Generator<Pair> {
    let pairs = [...this.data].map(([key, value]) => ({ key: new Key(key), value }))
    if (query.prefix !== undefined) pairs = pairs.filter((p) => p.key.toString().startsWith(query.prefix as string))
    for (const filter of query.filters ?? []) pairs = pairs.filter(filter)
    for (const order of query.orders ?? []) pairs.sort(order)
    const start = query.offset ?? 0
    yield* pairs.slice(start, query.limit === undefined ? undefined : start + query.limit)
  }

  *queryKeys(query: KeyQuery): Generator<Key> {
    let keys = [...this.data.keys()].map((key) => new Key(key))
    if (query.prefix !== undefined) keys = keys.filter((k) => k.toString().startsWith(query.prefix as string))
    for (const filter of query.filters ?? []) keys = keys.filter(filter)
    for (const order of query.orders ?? []) keys.sort(order)
    const start = query.offset ?? 0
    yield* keys.slice(start, query.limit === undefined ? undefined : start + query.limit)
  }
}

/** Accepts non-empty values; prefers the longest. */
export const longestWins: Validator = {
  validate: (_key, value) => {
    if (value.byteLength === 0) throw new Error("empty value")
  },
  select: (_key, values) => values.reduce((best, v, i) => (v.byteLength > values[best].byteLength ? i : best), 0)
}
