/**
 * `IpfsDHT`: the DHT for plain TypeScript, with Promises and async
 * iterables, shaped like the developer guide's class. Every call runs the
 * corresponding Effect of {@link Dht} on a runtime built by `start()` and
 * released by `close()`.
 *
 * @module
 */

import type { DhtRecord, Libp2pNetwork, PeerInfo, Validator } from "@effect-kad/core"
import type { DHTConfig, DHTMode } from "@effect-kad/options"
import {
  namespaceCid,
  ProvideError,
  type ProvideManyProgress,
  type ProvideManyResult,
  type ProviderStore,
  ProviderStoreService,
  type ReprovideProgress
} from "@effect-kad/providers"
import type { PeerEntry, RefreshReport } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { CID } from "multiformats/cid"
import { type BootstrapOptions, Dht, type DhtServices, type OptionsInput } from "./dht.js"
import { foldInto } from "./internal/options-input.js"
import { type CallOptions, PromiseRuntime } from "./internal/promise-runtime.js"
import {
  localRecordOps,
  type RoutingTableHealth,
  type RoutingTableStats,
  routingTableHealth,
  routingTableStats
} from "./local-state.js"
import type { DhtMetricsSnapshot } from "./monitoring/metrics.js"

export type { CallOptions } from "./internal/promise-runtime.js"

/** Settings of a value lookup. */
export interface GetValueOptions extends CallOptions {
  /** Stop once this many valid answers (the local record included) agree; default: run the lookup to completion. */
  readonly quorum?: number
}

/** Constructor arguments, as in the guide. */
export interface IpfsDHTInit {
  /** The libp2p host: a `Libp2p` node (or a js-libp2p service's components). */
  readonly host: Libp2pNetwork.Libp2pHostLike
  /** Where provider records are kept; a `MemoryProviderStore` when omitted. */
  readonly providerStore?: ProviderStore
  /** A `DHTOptions` object or a list of `DHTOption`s. */
  readonly options?: OptionsInput
  /** Record validator (usually a `NamespacedValidator`); `/pk` and `/ipns` when omitted. */
  readonly validator?: Validator
}

/**
 * The DHT for Promise users.
 *
 * @example
 * ```ts
 * const dht = new IpfsDHT({ host, providerStore: new MemoryProviderStore(), options: { mode: DHTMode.auto } })
 * await dht.start()
 * await dht.bootstrap()
 * const peer = await dht.findPeer(targetPeerId)
 * await dht.close()
 * ```
 */
export class IpfsDHT {
  private readonly runtime: PromiseRuntime<Dht | DhtServices>
  private readonly hostRef: Libp2pNetwork.Libp2pHostLike

  constructor(init: IpfsDHTInit, layer?: Layer.Layer<Dht | DhtServices, unknown>) {
    this.hostRef = init.host
    this.runtime = new PromiseRuntime(
      layer ??
        Dht.layer(
          init.host,
          foldInto(init.options, {
            providerStore: init.providerStore,
            validator: init.validator
          })
        )
    )
  }

  /** Builds every layer: registers the protocol handler in server mode, starts refresh and cleanup timers. */
  start(): Promise<void> {
    return this.runtime.start()
  }

  /** Stops everything `start` started; idempotent. The host is left running. */
  close(): Promise<void> {
    return this.runtime.close()
  }

  /** The libp2p host this DHT runs on. */
  host(): Libp2pNetwork.Libp2pHostLike {
    return this.hostRef
  }

  /**
   * The node's metrics now: operations and RPCs per message type (count,
   * errors, seconds), routing-table size and bucket fill, store sizes,
   * requests in flight.
   *
   * @example
   * ```ts
   * const m = await dht.metrics()
   * console.log(m.routingTable.size, m.operations.getValue?.errors ?? 0)
   * ```
   */
  metrics(): Promise<DhtMetricsSnapshot> {
    return this.run(
      "metrics",
      this.withDht((dht) => dht.metrics)
    )
  }

  private run<A>(
    operation: string,
    effect: Effect.Effect<A, unknown, Dht | DhtServices>,
    options?: CallOptions
  ): Promise<A> {
    return this.runtime.run(operation, effect, options)
  }

  private iterate<A>(
    operation: string,
    stream: Stream.Stream<A, unknown, Dht>,
    options?: CallOptions
  ): AsyncIterable<A> {
    return this.runtime.iterate(operation, stream, options)
  }

  private withDht<A, E>(f: (dht: Dht["Type"]) => Effect.Effect<A, E>): Effect.Effect<A, E, Dht> {
    return Effect.flatMap(Dht, f)
  }

  /** Connects to the bootstrap peers and, unless `quickConnectOnly`, refreshes the routing table. */
  bootstrap(options: BootstrapOptions & CallOptions = {}): Promise<void> {
    return this.run(
      "bootstrap",
      this.withDht((dht) => Effect.asVoid(dht.bootstrap(options))),
      options
    )
  }

  /** A peer's addresses, or null when nobody knows it. */
  findPeer(id: PeerId, options?: CallOptions): Promise<PeerInfo | null> {
    return this.run(
      "findPeer",
      this.withDht((dht) => Effect.map(dht.findPeer(id), Option.getOrNull)),
      options
    )
  }

  /** The k closest peers to a key or peer ID that answered a lookup. */
  getClosestPeers(key: PeerId | Uint8Array, options?: CallOptions): Promise<Array<PeerInfo>> {
    return this.run(
      "getClosestPeers",
      this.withDht((dht) => Effect.map(dht.getClosestPeers(key), (peers) => [...peers])),
      options
    )
  }

  /**
   * Records that this node provides `cid`, and announces it to the network
   * when `announce` is true. On an empty routing table it first waits a
   * bounded time (`emptyTableWait`) for peers; an announcement that reached
   * no peer rejects with `ProvideError` (the record stays local and is
   * reprovided on schedule).
   */
  provide(cid: CID, announce = true, options?: CallOptions): Promise<void> {
    return this.run(
      "provide",
      this.withDht((dht) =>
        Effect.flatMap(dht.provide(cid, { announce }), (reached) =>
          announce && reached === 0
            ? Effect.fail(new ProvideError({ key: cid.multihash.bytes, operation: "provide" }))
            : Effect.void
        )
      ),
      options
    )
  }

  /**
   * Provides many CIDs at once: each is recorded locally, kept for
   * reproviding (in the datastore when one is configured) and announced to
   * its `k` closest peers, region by region of the keyspace, with a few
   * lookups per region instead of one per key. `onProgress` hears the
   * running totals after each region.
   *
   * @example
   * ```ts
   * const result = await dht.provideMany(cids, { onProgress: (p) => console.log(`${p.done}/${p.total}`) })
   * console.log(`${result.lookups} lookups for ${result.total} keys`)
   * ```
   */
  provideMany(
    cids: Iterable<CID>,
    options?: CallOptions & { readonly onProgress?: (progress: ProvideManyProgress) => void }
  ): Promise<ProvideManyResult> {
    const onProgress = options?.onProgress
    return this.run(
      "provideMany",
      this.withDht((dht) =>
        dht.provideMany(cids, {
          onProgress: onProgress === undefined ? undefined : (progress) => Effect.sync(() => onProgress(progress))
        })
      ),
      options
    )
  }

  /**
   * Stops reproviding `cid` (and forgets it in the datastore); resolves to
   * whether it was being reprovided. Announced records expire by themselves.
   *
   * @example
   * ```ts
   * if (await dht.stopProviding(cid)) console.log("no longer reprovided")
   * ```
   */
  stopProviding(cid: CID, options?: CallOptions): Promise<boolean> {
    return this.run(
      "stopProviding",
      this.withDht((dht) => dht.stopProviding(cid)),
      options
    )
  }

  /**
   * Where reproviding stands: keys, progress of the current cycle, cycles
   * that overran their interval.
   *
   * @example
   * ```ts
   * const { keysTotal, doneInCycle, cycleStartMillis, overrunCycles } = await dht.reprovideProgress()
   * ```
   */
  reprovideProgress(options?: CallOptions): Promise<ReprovideProgress> {
    return this.run(
      "reprovideProgress",
      this.withDht((dht) => dht.reprovideProgress),
      options
    )
  }

  /** Providers of `cid`: local ones first, then as the network answers; `count` 0 means all. */
  findProvidersAsync(cid: CID, count = 0, options?: CallOptions): AsyncIterable<PeerInfo> {
    return this.iterate(
      "findProviders",
      Stream.unwrap(Effect.map(Dht, (dht) => dht.findProviders(cid, { count }))),
      options
    )
  }

  /** Stores a value under a key locally and on the k closest peers. */
  putValue(key: string | Uint8Array, value: Uint8Array, options?: CallOptions): Promise<void> {
    return this.run(
      "putValue",
      this.withDht((dht) => Effect.asVoid(dht.putValue(toKey(key), value))),
      options
    )
  }

  /** The best valid value for a key, or null when none exists. */
  getValue(key: string | Uint8Array, options?: GetValueOptions): Promise<Uint8Array | null> {
    return this.run(
      "getValue",
      this.withDht((dht) =>
        dht
          .getValue(toKey(key), { quorum: options?.quorum })
          .pipe(Effect.catchTag("NotFoundError", () => Effect.succeed(null)))
      ),
      options
    )
  }

  /** Every better value for a key as it is discovered, ending with the best. */
  searchValue(key: string | Uint8Array, options?: GetValueOptions): AsyncIterable<Uint8Array> {
    return this.iterate(
      "searchValue",
      Stream.unwrap(
        Effect.map(Dht, (dht) =>
          // nothing found is an empty search, as getValue's null is
          dht
            .searchValue(toKey(key), { quorum: options?.quorum })
            .pipe(Stream.catchTag("NotFoundError", () => Stream.empty))
        )
      ),
      options
    )
  }

  /**
   * Advertises this node in a namespace; resolves to the advertisement's
   * TTL in milliseconds, or rejects with `ProvideError` when it reached no peer.
   */
  advertise(namespace: string, options?: CallOptions): Promise<number> {
    return this.run(
      "advertise",
      this.withDht((dht) =>
        Effect.flatMap(dht.advertise(namespace), ({ ttl, peers }) =>
          peers === 0
            ? Effect.flatMap(namespaceCid(namespace), (cid) =>
                Effect.fail(new ProvideError({ key: cid.multihash.bytes, operation: "advertise" }))
              )
            : Effect.succeed(Duration.toMillis(ttl))
        )
      ),
      options
    )
  }

  /** Peers advertising in a namespace. */
  findPeers(namespace: string, options?: CallOptions & { readonly limit?: number }): AsyncIterable<PeerInfo> {
    return this.iterate(
      "findPeers",
      Stream.unwrap(Effect.map(Dht, (dht) => dht.findPeers(namespace, { limit: options?.limit }))),
      options
    )
  }

  /**
   * Refreshes the routing table now, as go's `RefreshRoutingTable` and
   * `ForceRefresh`: without `force`, buckets refreshed within the refresh
   * interval are skipped; with it, every bucket is looked up. Waits for a
   * refresh already running, never overlaps one. Resolves with what it did.
   */
  refreshRoutingTable(options: { readonly force?: boolean } & CallOptions = {}): Promise<RefreshReport> {
    return this.run(
      "refreshRoutingTable",
      this.withDht((dht) => dht.refresh({ force: options.force ?? false })),
      options
    )
  }

  /** {@link IpfsDHT.refreshRoutingTable} with `force`: every bucket is looked up. */
  forceRefresh(options?: CallOptions): Promise<RefreshReport> {
    return this.refreshRoutingTable({ ...options, force: true })
  }

  /** The resolved configuration: every option with its default filled in. */
  getConfig(): Promise<DHTConfig> {
    return this.run(
      "getConfig",
      this.withDht((dht) => Effect.succeed(dht.config))
    )
  }

  /** Providers of `cid` in this node's own store (no network traffic). */
  getLocalProviders(cid: CID): Promise<Array<PeerInfo>> {
    return this.run(
      "getLocalProviders",
      Effect.flatMap(ProviderStoreService, (store) => store.getProviders(cid.multihash.bytes))
    )
  }

  /** Records in this node's own store that `provider` provides `cid` (not announced to anyone). */
  addLocalProvider(cid: CID, provider: PeerInfo): Promise<void> {
    return this.run(
      "addLocalProvider",
      Effect.flatMap(ProviderStoreService, (store) => store.addProvider(cid.multihash.bytes, provider))
    )
  }

  /** The record this node stores under `key`, or null; expired records count as absent. */
  getLocalRecord(key: string | Uint8Array): Promise<DhtRecord | null> {
    return this.run("getLocalRecord", localRecordOps.get(toKey(key)))
  }

  /** Whether this node stores a (not expired) record under `key`. */
  hasLocalRecord(key: string | Uint8Array): Promise<boolean> {
    return this.run("hasLocalRecord", localRecordOps.has(toKey(key)))
  }

  /** Deletes the record this node stores under `key`; resolves whether there was one. */
  removeLocalRecord(key: string | Uint8Array): Promise<boolean> {
    return this.run("removeLocalRecord", localRecordOps.remove(toKey(key)))
  }

  /** The routing table, as the guide reads it, with its statistics and health. */
  get routingTable(): {
    size(): Promise<number>
    listPeers(): Promise<ReadonlyArray<PeerEntry>>
    stats(): Promise<RoutingTableStats>
    health(): Promise<RoutingTableHealth>
  } {
    return {
      stats: () => this.run("routingTable.stats", routingTableStats),
      health: () => this.run("routingTable.health", routingTableHealth),
      size: () =>
        this.run(
          "routingTable.size",
          this.withDht((dht) => dht.routingTable.size)
        ),
      listPeers: () =>
        this.run(
          "routingTable.listPeers",
          this.withDht((dht) => dht.routingTable.listPeers)
        )
    }
  }

  /** The network size estimator; `estimate()` rejects with `NotEnoughDataError` until enough lookups completed. */
  get nsEstimator(): { estimate(): Promise<number> } {
    return {
      estimate: () =>
        this.run(
          "nsEstimator.estimate",
          this.withDht((dht) => dht.nsEstimator.estimate)
        )
    }
  }

  /** What the node does now: `client` or `server`. */
  mode(): Promise<"client" | "server"> {
    return this.run(
      "mode",
      this.withDht((dht) => dht.mode.current)
    )
  }

  /** The mode the options asked for. */
  configuredMode(): Promise<DHTMode> {
    return this.run(
      "configuredMode",
      this.withDht((dht) => Effect.succeed(dht.mode.configured))
    )
  }

  /**
   * Calls `listener` with the current mode and on every change; returns a
   * function that stops listening.
   */
  onModeChange(listener: (mode: "client" | "server") => void): () => void {
    const controller = new AbortController()
    void this.run(
      "onModeChange",
      this.withDht((dht) => Stream.runForEach(dht.mode.changes, (mode) => Effect.sync(() => listener(mode)))),
      { signal: controller.signal }
    ).catch(() => undefined)
    return () => controller.abort()
  }

  /** Runs any Effect against this DHT's services (for Effect users holding an `IpfsDHT`). */
  effect<A, E>(effect: Effect.Effect<A, E, Dht | DhtServices>, options?: CallOptions): Promise<A> {
    return this.run("effect", effect, options)
  }
}

const encoder = new TextEncoder()

/** Keys given as strings are UTF-8 (`/myapp/key`); byte keys pass through. */
const toKey = (key: string | Uint8Array): Uint8Array => (typeof key === "string" ? encoder.encode(key) : key)
