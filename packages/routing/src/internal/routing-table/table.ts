/**
 * The k-bucket data structure behind the `RoutingTable` service: plain,
 * synchronous TypeScript. Every method runs to completion without yielding,
 * so the service only has to keep asynchronous steps (liveness checks) out
 * of it to stay consistent under concurrent callers.
 *
 * @module
 */
import {
  commonPrefixLength,
  compareDistance,
  type KadId,
  KEYSPACE_BITS,
  kadIdOfPeer,
  type PeerInfo
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import { type DiversityCounter, ipGroupsOf } from "./diversity.js"

/** A peer held by the routing table, as callers see it (an immutable snapshot). */
export interface PeerEntry extends PeerInfo {
  readonly id: PeerId
  readonly multiaddrs: ReadonlyArray<Multiaddr>
  /** sha256 of the peer ID's multihash: its position in the keyspace. */
  readonly kadId: KadId
  /** Common prefix length with the local Kad ID: the index of the bucket holding the peer. */
  readonly cpl: number
  readonly addedAt: Date
  /** Last time the peer answered a query usefully; undefined until it has. */
  readonly lastUsefulAt: Date | undefined
  /**
   * Last time a request to the peer succeeded (a query, a liveness check).
   * Starts at `addedAt`, which gives a newcomer one grace period before a
   * refresh checks on it.
   */
  readonly lastSuccessfulOutboundQueryAt: Date
  /** Smoothed round-trip time, undefined until measured. */
  readonly latencyMillis: number | undefined
  /** Whether a newcomer may take this peer's slot without a liveness check (bootstrap peers). */
  readonly replaceable: boolean
}

/** Summary of one bucket, for the refresh manager. */
export interface BucketInfo {
  /** Common prefix length shared by the bucket's peers with the local Kad ID (the bucket index). */
  readonly cpl: number
  /** Peers in the bucket. */
  readonly size: number
  /** When the routing table's `markBucketRefreshed` was last called for it. */
  readonly lastRefreshedAt: Date | undefined
}

/** Why the table refused a peer; reported in debug logs. */
export type RefusalReason = "self" | "filtered" | "diversity" | "no-ip-address" | "bucket-full" | "table-full"

/** A peer about to be offered to the table, with everything derived from it computed once. */
export interface Candidate {
  readonly info: PeerInfo
  readonly key: string
  readonly kadId: KadId
  readonly cpl: number
  readonly groups: ReadonlyArray<string>
}

/** Outcome of one synchronous admission attempt. */
export type AddDecision =
  | { readonly _tag: "Added"; readonly entry: PeerEntry; readonly evicted: PeerEntry | undefined }
  | { readonly _tag: "Updated" }
  | { readonly _tag: "Refused"; readonly reason: RefusalReason }
  /** The bucket is full and its least useful peer is past its grace period: ask whether it is alive. */
  | { readonly _tag: "NeedsLivenessCheck"; readonly incumbent: PeerEntry }

/** Table events, emitted synchronously as the state changes so their order matches it. */
export type TableEvent =
  | { readonly _tag: "PeerAdded"; readonly peer: PeerEntry }
  | { readonly _tag: "PeerRemoved"; readonly peer: PeerEntry }

/** Construction parameters of {@link KBucketTable}. */
export interface KBucketTableParams {
  readonly local: KadId
  readonly bucketSize: number
  readonly maxSize: number
  readonly gracePeriodMillis: number
  readonly diversity: DiversityCounter | undefined
  readonly peerFilter: ((peer: PeerInfo) => boolean) | undefined
  readonly emit: (event: TableEvent) => void
}

/** Admission flags, as in go-libp2p-kbucket's `TryAddPeer`. */
export interface AdmissionFlags {
  readonly queryPeer: boolean
  readonly replaceable: boolean
}

interface Slot {
  entry: PeerEntry
  groups: ReadonlyArray<string>
}

const NO_SLOTS: ReadonlyArray<Slot> = []

/** Weight of a new latency sample in the moving average (libp2p peerstores use the same). */
const LATENCY_SMOOTHING = 0.1

/**
 * Buckets indexed by common prefix length with the local Kad ID, 0..255.
 * A fixed array of buckets (rather than go's unfolding last bucket) keeps
 * every peer in the bucket of its exact CPL, so `nearest` can walk buckets
 * in distance order.
 */
export class KBucketTable {
  // Grown up to the deepest bucket ever filled: peers share few leading bits
  // with us, so all but a dozen or so of the 256 buckets stay empty, and
  // simulations hold thousands of tables.
  private readonly buckets: Array<Array<Slot>> = []
  private readonly byKey = new Map<string, Slot>()
  private readonly refreshedAt: Array<number | undefined> = []

  constructor(private readonly params: KBucketTableParams) {}

  private bucketAt(cpl: number): ReadonlyArray<Slot> {
    return this.buckets[cpl] ?? NO_SLOTS
  }

  get size(): number {
    return this.byKey.size
  }

  /** Computes what admission needs from a peer (its Kad ID is one sha256). */
  prepare(info: PeerInfo): Candidate {
    const kadId = kadIdOfPeer(info.id)
    return {
      info,
      key: info.id.toString(),
      kadId,
      cpl: commonPrefixLength(this.params.local, kadId),
      groups: this.params.diversity === undefined ? [] : ipGroupsOf(info.multiaddrs)
    }
  }

  /**
   * One admission attempt at time `now`. With `mayCheckLiveness` false a
   * full bucket refuses instead of asking for a liveness check (used after
   * the check, whose outcome is already applied).
   */
  decide(candidate: Candidate, flags: AdmissionFlags, now: number, mayCheckLiveness: boolean): AddDecision {
    if (candidate.cpl >= KEYSPACE_BITS) return refused("self")
    const known = this.byKey.get(candidate.key)
    if (known !== undefined) {
      this.refreshKnown(known, candidate, flags, now)
      return { _tag: "Updated" }
    }
    const { peerFilter, diversity } = this.params
    if (peerFilter !== undefined && !peerFilter(candidate.info)) return refused("filtered")
    if (diversity !== undefined) {
      if (candidate.groups.length === 0) return refused("no-ip-address")
      if (!diversity.allows(candidate.cpl, candidate.groups)) return refused("diversity")
    }
    const bucket = this.bucketAt(candidate.cpl)
    const tableFull = this.byKey.size >= this.params.maxSize
    if (bucket.length < this.params.bucketSize && !tableFull) {
      return { _tag: "Added", entry: this.insert(candidate, flags, now), evicted: undefined }
    }
    // Full: a newcomer may only take a slot in its own bucket, so closer
    // buckets (rarer peers) never lose peers to farther ones.
    const reason: RefusalReason = tableFull && bucket.length < this.params.bucketSize ? "table-full" : "bucket-full"
    const replaceable = leastUseful(bucket, (slot) => slot.entry.replaceable)
    if (replaceable !== undefined) {
      const evicted = this.removeSlot(replaceable)
      return { _tag: "Added", entry: this.insert(candidate, flags, now), evicted }
    }
    if (!mayCheckLiveness) return refused(reason)
    const grace = this.params.gracePeriodMillis
    const stale = leastUseful(bucket, (slot) => now - lastSignOfLife(slot.entry) > grace)
    return stale === undefined ? refused(reason) : { _tag: "NeedsLivenessCheck", incumbent: stale.entry }
  }

  /**
   * Whether offering `peer` could add it without a liveness check: it is
   * not held yet and its bucket has room or a replaceable peer (go's
   * `UsefulNewPeer`). Changes nothing.
   */
  usefulNewPeer(peer: PeerId): boolean {
    if (this.byKey.has(peer.toString())) return false
    const cpl = commonPrefixLength(this.params.local, kadIdOfPeer(peer))
    if (cpl >= KEYSPACE_BITS) return false
    const bucket = this.bucketAt(cpl)
    if (bucket.length < this.params.bucketSize && this.byKey.size < this.params.maxSize) return true
    return bucket.some((slot) => slot.entry.replaceable)
  }

  /** Applies a passed liveness check: the incumbent keeps its slot and a fresh grace period. */
  confirmAlive(peer: PeerId, now: number): void {
    this.update(peer, (entry) => ({ ...entry, lastSuccessfulOutboundQueryAt: new Date(now) }))
  }

  remove(peer: PeerId): PeerEntry | undefined {
    const slot = this.byKey.get(peer.toString())
    return slot === undefined ? undefined : this.removeSlot(slot)
  }

  get(peer: PeerId): PeerEntry | undefined {
    return this.byKey.get(peer.toString())?.entry
  }

  /** Replaces a peer's entry by `f(entry)`; false when the peer is not in the table. */
  update(peer: PeerId, f: (entry: PeerEntry) => PeerEntry): boolean {
    const slot = this.byKey.get(peer.toString())
    if (slot === undefined) return false
    slot.entry = f(slot.entry)
    return true
  }

  markUseful(peer: PeerId, now: number): boolean {
    return this.update(peer, (entry) => ({ ...entry, lastUsefulAt: new Date(now) }))
  }

  markSuccessfulOutboundQuery(peer: PeerId, now: number): boolean {
    return this.update(peer, (entry) => ({ ...entry, lastSuccessfulOutboundQueryAt: new Date(now) }))
  }

  recordLatency(peer: PeerId, millis: number): boolean {
    if (!Number.isFinite(millis) || millis < 0) return false
    return this.update(peer, (entry) => ({
      ...entry,
      latencyMillis:
        entry.latencyMillis === undefined
          ? millis
          : entry.latencyMillis + LATENCY_SMOOTHING * (millis - entry.latencyMillis)
    }))
  }

  /**
   * The `count` peers closest to `key` by XOR distance, closest first.
   *
   * With `c` the common prefix length of `key` and the local ID: every peer
   * of bucket `c` agrees with `key` on bit `c`, so it is closer than any
   * other peer; peers of all deeper buckets differ from `key` first at bit
   * `c`, so they come next and tie on that bit; peers of bucket `i < c`
   * differ first at bit `i`, so shallower buckets come later. Only the
   * groups actually needed are sorted.
   */
  nearest(key: Uint8Array, count: number): Array<PeerEntry> {
    const out: Array<PeerEntry> = []
    if (count <= 0 || this.byKey.size === 0) return out
    const c = commonPrefixLength(key, this.params.local)
    const take = (group: ReadonlyArray<Slot>): void => {
      if (group.length === 0) return
      const entries = group.map((slot) => slot.entry)
      entries.sort((a, b) => compareDistance(a.kadId, b.kadId, key))
      const room = count - out.length
      for (let i = 0; i < entries.length && i < room; i++) out.push(entries[i])
    }
    if (c < KEYSPACE_BITS) {
      take(this.bucketAt(c))
      if (out.length >= count) return out
      const deeper: Array<Slot> = []
      for (let i = c + 1; i < this.buckets.length; i++) {
        const bucket = this.bucketAt(i)
        for (let j = 0; j < bucket.length; j++) deeper.push(bucket[j])
      }
      take(deeper)
    }
    for (let i = Math.min(c, KEYSPACE_BITS) - 1; i >= 0 && out.length < count; i--) take(this.bucketAt(i))
    return out
  }

  listPeers(): Array<PeerEntry> {
    const out: Array<PeerEntry> = []
    for (const bucket of this.buckets) for (const slot of bucket) out.push(slot.entry)
    return out
  }

  /** One past the index of the deepest non-empty bucket (0 for an empty table). */
  bucketCount(): number {
    for (let i = this.buckets.length - 1; i >= 0; i--) if (this.buckets[i].length > 0) return i + 1
    return 0
  }

  bucketInfos(): Array<BucketInfo> {
    const count = this.bucketCount()
    const out: Array<BucketInfo> = []
    for (let cpl = 0; cpl < count; cpl++) {
      const at = this.refreshedAt[cpl]
      out.push({ cpl, size: this.bucketAt(cpl).length, lastRefreshedAt: at === undefined ? undefined : new Date(at) })
    }
    return out
  }

  peerCountForCpl(cpl: number): number {
    return Number.isInteger(cpl) && cpl >= 0 && cpl < KEYSPACE_BITS ? this.bucketAt(cpl).length : 0
  }

  markBucketRefreshed(cpl: number, now: number): void {
    if (Number.isInteger(cpl) && cpl >= 0 && cpl < KEYSPACE_BITS) this.refreshedAt[cpl] = now
  }

  private insert(candidate: Candidate, flags: AdmissionFlags, now: number): PeerEntry {
    const at = new Date(now)
    const entry: PeerEntry = {
      id: candidate.info.id,
      multiaddrs: Array.from(candidate.info.multiaddrs),
      kadId: candidate.kadId,
      cpl: candidate.cpl,
      addedAt: at,
      lastUsefulAt: flags.queryPeer ? at : undefined,
      lastSuccessfulOutboundQueryAt: at,
      latencyMillis: undefined,
      replaceable: flags.replaceable
    }
    const slot: Slot = { entry, groups: candidate.groups }
    while (this.buckets.length <= candidate.cpl) this.buckets.push([])
    this.buckets[candidate.cpl].push(slot)
    this.byKey.set(candidate.key, slot)
    this.params.diversity?.add(candidate.cpl, candidate.groups)
    this.params.emit({ _tag: "PeerAdded", peer: entry })
    return entry
  }

  private removeSlot(slot: Slot): PeerEntry {
    const { entry } = slot
    // a held slot's bucket exists
    const bucket = this.buckets[entry.cpl]
    const index = bucket.indexOf(slot)
    if (index >= 0) bucket.splice(index, 1)
    this.byKey.delete(entry.id.toString())
    this.params.diversity?.remove(entry.cpl, slot.groups)
    this.params.emit({ _tag: "PeerRemoved", peer: entry })
    return entry
  }

  /**
   * A known peer offered again: take its new addresses (unless that would
   * break the filter or the diversity limits) and, for a peer we just
   * queried, record the contact.
   */
  private refreshKnown(slot: Slot, candidate: Candidate, flags: AdmissionFlags, now: number): void {
    let entry = slot.entry
    const addrs = candidate.info.multiaddrs
    if (addrs.length > 0 && (this.params.peerFilter === undefined || this.params.peerFilter(candidate.info))) {
      const diversity = this.params.diversity
      if (diversity === undefined) {
        entry = { ...entry, multiaddrs: Array.from(addrs) }
      } else if (candidate.groups.length > 0 && diversity.allows(entry.cpl, candidate.groups, slot.groups)) {
        diversity.remove(entry.cpl, slot.groups)
        diversity.add(entry.cpl, candidate.groups)
        slot.groups = candidate.groups
        entry = { ...entry, multiaddrs: Array.from(addrs) }
      }
    }
    if (flags.queryPeer) {
      const at = new Date(now)
      // As in go-libp2p-kbucket: the first query after admission counts as a
      // usefulness bump, later ones only as a successful contact.
      entry = { ...entry, lastUsefulAt: entry.lastUsefulAt ?? at, lastSuccessfulOutboundQueryAt: at }
    }
    slot.entry = entry
  }
}

const refused = (reason: RefusalReason): AddDecision => ({ _tag: "Refused", reason })

/** The latest evidence that a peer is alive and worth keeping. */
const lastSignOfLife = (entry: PeerEntry): number =>
  Math.max(entry.lastUsefulAt?.getTime() ?? 0, entry.lastSuccessfulOutboundQueryAt.getTime())

/**
 * Among the slots matching `eligible`, the one useful longest ago (never
 * useful first), ties broken by the oldest admission.
 */
const leastUseful = (bucket: ReadonlyArray<Slot>, eligible: (slot: Slot) => boolean): Slot | undefined => {
  let best: Slot | undefined
  for (const slot of bucket) {
    if (!eligible(slot)) continue
    if (best === undefined || lessUseful(slot.entry, best.entry)) best = slot
  }
  return best
}

const lessUseful = (a: PeerEntry, b: PeerEntry): boolean => {
  const ua = a.lastUsefulAt?.getTime() ?? Number.NEGATIVE_INFINITY
  const ub = b.lastUsefulAt?.getTime() ?? Number.NEGATIVE_INFINITY
  if (ua !== ub) return ua < ub
  return a.addedAt.getTime() < b.addedAt.getTime()
}
