/**
 * The `RefreshManager` service: keeps the routing table healthy the way
 * go-libp2p-kad-dht's `RtRefreshManager` and `fixLowPeers` do.
 *
 * A refresh checks peers nobody has heard from for a while and evicts those
 * that do not answer, looks the local node up, then looks up a random key
 * in each bucket from 0 to the deepest non-empty one (at most
 * {@link MAX_CPL_FOR_REFRESH}), skipping buckets refreshed within the
 * refresh interval unless forced. Refreshes run at start and then
 * periodically; a separate low-peer fix refills a table that ran low from
 * the live connections and the bootstrap peers.
 *
 * @module
 */
import { InvalidOptionError, Network, type NetworkShape, type PeerInfo, type RequestError } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberHandle from "effect/FiberHandle"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { lookupCheck } from "../peer-routing/lookup-check.js"
import { PeerRouting } from "../peer-routing/peer-routing.js"
import { DEFAULT_REFRESH_INTERVAL_MILLIS, maxLastSuccessfulOutboundThresholdMillis } from "../routing-table/config.js"
import { RoutingTable, type RoutingTableShape } from "../routing-table/routing-table.js"
import { MAX_CPL_FOR_REFRESH, randomKeyForCpl } from "./keys.js"

/** Deadline of one refresh lookup (go-libp2p-kad-dht's `RefreshQueryTimeout`: 10 s). */
export const DEFAULT_REFRESH_QUERY_TIMEOUT_MILLIS = 10_000

/** Deadline of one liveness check or bootstrap dial (go-libp2p-kad-dht's `peerPingTimeout`: 10 s). */
export const DEFAULT_PEER_TIMEOUT_MILLIS = 10_000

/** The low-peer fix acts while the table holds at most this many peers (go's `minRTRefreshThreshold`: 10). */
export const DEFAULT_LOW_PEERS_THRESHOLD = 10

/** How often the table size is checked even without a trigger (go's `periodicBootstrapInterval`: 2 min). */
export const DEFAULT_LOW_PEERS_CHECK_INTERVAL_MILLIS = 2 * 60 * 1000

/** Shortest time between two runs of the low-peer fix. */
export const DEFAULT_LOW_PEERS_MIN_GAP_MILLIS = 60 * 1000

/** Bootstrap peers the low-peer fix connects to before it stops dialing (go's `maxNBoostrappers`: 2). */
export const DEFAULT_LOW_PEERS_BOOTSTRAP_DIALS = 2

/** Liveness checks run at once during a refresh. */
export const DEFAULT_LIVENESS_CHECK_CONCURRENCY = 16

/** Settings of the {@link RefreshManager}. */
export interface RefreshConfig {
  /**
   * Refresh at start and then every {@link RefreshConfig.refreshIntervalMillis}
   * (default true). Off, refreshes happen only through `refresh` and
   * `bootstrap`.
   */
  readonly autoRefresh?: boolean
  /**
   * Time from the end of one periodic refresh to the start of the next, and
   * the age under which a bucket counts as freshly refreshed (default 10 min).
   */
  readonly refreshIntervalMillis?: number
  /** Deadline of each refresh lookup; a lookup past it ends with what it found (default 10 s). */
  readonly refreshQueryTimeoutMillis?: number
  /** Peers to join through: dialed by `bootstrap` and when the table runs low (default none). */
  readonly bootstrapPeers?: ReadonlyArray<PeerInfo>
  /** Asked for the peers to join through each time they are needed; replaces `bootstrapPeers` (go's `BootstrapPeersFunc`). */
  readonly bootstrapPeersFunc?: () => ReadonlyArray<PeerInfo>
  /**
   * Signals that this node's own addresses changed. With auto refresh on,
   * each starts a refresh (without forcing the buckets), whose self lookup
   * tells the peers closest to us the new addresses, as go does on
   * `EvtLocalAddressesUpdated`: identify only reaches the peers we are
   * connected to. Signals that arrive during a refresh are folded into one.
   */
  readonly addressChanges?: Stream.Stream<unknown>
  /** Run the low-peer fix at start and whenever the table runs low (default: the value of `autoRefresh`). */
  readonly fixLowPeers?: boolean
  /** The low-peer fix acts while the table holds this many peers or fewer (default 10, as go). */
  readonly lowPeersThreshold?: number
  /** Period of the low-peer check made even when no peer left the table (default 2 min, as go). */
  readonly lowPeersCheckIntervalMillis?: number
  /** Shortest time between two runs of the low-peer fix; triggers in between wait (default 1 min). */
  readonly lowPeersMinGapMillis?: number
  /** Bootstrap peers the low-peer fix connects to, in random order, before it stops (default 2, as go). */
  readonly lowPeersBootstrapDials?: number
  /**
   * A peer whose last successful request is older than this gets a
   * liveness check at the next refresh (default
   * {@link maxLastSuccessfulOutboundThresholdMillis} for the table's bucket
   * size and the refresh interval, ≈ 43 min with the Amino defaults).
   */
  readonly staleAfterMillis?: number
  /** Deadline of one liveness check or bootstrap dial (default 10 s). */
  readonly peerTimeoutMillis?: number
  /** Liveness checks in flight at once (default 16). */
  readonly livenessCheckConcurrency?: number
  /**
   * Whether a peer is alive. The default asks the peer for the peers
   * closest to its own ID (as go's `lookupCheck`), and accepts an empty
   * answer only while our table has fewer than `k` peers. Bounded by
   * {@link RefreshConfig.peerTimeoutMillis} either way.
   */
  readonly isAlive?: (peer: PeerId) => Effect.Effect<boolean>
}

/** Options of {@link RefreshManagerShape.refresh}. */
export interface RefreshOptions {
  /** Refresh every bucket, however recently it was refreshed. */
  readonly force?: boolean
}

/** Options of {@link RefreshManagerShape.bootstrap}. */
export interface BootstrapOptions {
  /** Only connect to the bootstrap peers and add them; skip the full refresh. */
  readonly quickConnectOnly?: boolean
  /** (Re)start the periodic refresh with this period, counted from the end of the bootstrap. */
  readonly periodicRefreshInterval?: Duration.DurationInput
}

/** How one refresh lookup ended. */
export type RefreshLookupOutcome = "completed" | "timed-out" | "failed"

/** What a refresh did with one bucket. */
export interface BucketRefreshOutcome {
  readonly cpl: number
  /** `skipped` when the bucket was refreshed within the refresh interval and the refresh was not forced. */
  readonly outcome: RefreshLookupOutcome | "skipped"
}

/** The account of one refresh. */
export interface RefreshReport {
  readonly forced: boolean
  readonly startedAt: Date
  readonly finishedAt: Date
  readonly sizeBefore: number
  readonly sizeAfter: number
  /** Peers given a liveness check because nothing was heard from them within the staleness threshold. */
  readonly checked: number
  /** Checked peers that failed the check and were removed. */
  readonly evicted: ReadonlyArray<PeerId>
  /** The lookup of the local node's own ID. */
  readonly self: RefreshLookupOutcome
  /** Buckets considered, in the order they were. */
  readonly buckets: ReadonlyArray<BucketRefreshOutcome>
}

/** The account of one run of the low-peer fix that found the table low. */
export interface LowPeersFixReport {
  readonly at: Date
  readonly sizeBefore: number
  /** Peers added from the node's live connections to DHT servers. */
  readonly addedFromConnections: number
  /** Bootstrap peers connected to (and offered to the table). */
  readonly bootstrapConnected: ReadonlyArray<PeerId>
  /** Bootstrap peers that could not be reached. */
  readonly bootstrapFailed: ReadonlyArray<PeerId>
  readonly sizeAfter: number
}

/** The account of {@link RefreshManagerShape.bootstrap}. */
export interface BootstrapReport {
  /**
   * Bootstrap peers connected to and offered to the table; with no
   * bootstrap peers configured, the connected DHT servers offered instead.
   */
  readonly connected: ReadonlyArray<PeerId>
  /** Bootstrap peers that could not be reached, with why. */
  readonly failed: ReadonlyArray<{ readonly peer: PeerId; readonly error: RequestError }>
  /** The full refresh that followed, unless `quickConnectOnly`. */
  readonly refresh: Option.Option<RefreshReport>
}

/** What the manager has done so far. */
export interface RefreshStatus {
  /** A refresh is in progress. */
  readonly running: boolean
  /** Refreshes finished since start. */
  readonly completed: number
  readonly lastRefresh: Option.Option<RefreshReport>
  /** Period of the running periodic refresh; none while it is off. */
  readonly periodicIntervalMillis: Option.Option<number>
  /** Runs of the low-peer fix that found the table low. */
  readonly lowPeersFixes: number
  readonly lastLowPeersFix: Option.Option<LowPeersFixReport>
}

/** Operations of the {@link RefreshManager} service. */
export interface RefreshManagerShape {
  /**
   * Refreshes the routing table now and reports what it did. Never fails:
   * a lookup that breaks is logged and recorded as `failed`. Refreshes
   * never overlap; a call made during one waits for it to end.
   */
  readonly refresh: (options?: RefreshOptions) => Effect.Effect<RefreshReport>
  /**
   * Connects to every bootstrap peer at once and offers those reached to
   * the table (as replaceable, so organically found peers take their
   * place), then, unless `quickConnectOnly`, runs a forced refresh. With
   * `periodicRefreshInterval` the periodic refresh is (re)started with
   * that period (a zero, negative or infinite period is a defect).
   * Unreachable bootstrap peers are reported, not failed on. With no
   * bootstrap peers configured it joins through the current connections:
   * it waits (at most the peer timeout) for identify to tell which of them
   * serve the DHT, and offers those.
   */
  readonly bootstrap: (options?: BootstrapOptions) => Effect.Effect<BootstrapReport>
  /** The current status. */
  readonly status: Effect.Effect<RefreshStatus>
  /** The current status, then every change of it. */
  readonly statusChanges: Stream.Stream<RefreshStatus>
}

/**
 * Routing table refresh and low-peer repair of one DHT node. The periodic
 * refresh, the low-peer fix and their triggers run in fibers that live as
 * long as the layer's scope.
 *
 * @example
 * ```ts
 * const node = RefreshManager.layer({ bootstrapPeers }).pipe(Layer.provideMerge(peerRoutingLayer(config)))
 * const program = Effect.gen(function* () {
 *   const refresh = yield* RefreshManager
 *   yield* refresh.bootstrap({ periodicRefreshInterval: "10 minutes" })
 * })
 * ```
 */
export class RefreshManager extends Context.Tag("@effect-kad/routing/RefreshManager")<
  RefreshManager,
  RefreshManagerShape
>() {
  /** Builds the manager; its background fibers stop when the scope closes. */
  static readonly make = (
    config: RefreshConfig = {}
  ): Effect.Effect<RefreshManagerShape, InvalidOptionError, RoutingTable | PeerRouting | Network | Scope.Scope> =>
    makeRefreshManager(config)

  /** The manager as a layer. */
  static readonly layer = (
    config: RefreshConfig = {}
  ): Layer.Layer<RefreshManager, InvalidOptionError, RoutingTable | PeerRouting | Network> =>
    Layer.scoped(RefreshManager, makeRefreshManager(config))
}

interface Settings {
  readonly autoRefresh: boolean
  readonly intervalMillis: number
  readonly queryTimeoutMillis: number
  readonly bootstrapPeers: ReadonlyArray<PeerInfo>
  readonly fixLowPeers: boolean
  readonly lowPeersThreshold: number
  readonly lowPeersCheckIntervalMillis: number
  readonly lowPeersMinGapMillis: number
  readonly lowPeersBootstrapDials: number
  readonly staleAfterMillis: number | undefined
  readonly peerTimeoutMillis: number
  readonly livenessCheckConcurrency: number
}

const invalid = (field: string, reason: string) => Effect.fail(new InvalidOptionError({ field, reason }))

const validate = (config: RefreshConfig): Effect.Effect<Settings, InvalidOptionError> =>
  Effect.gen(function* () {
    const positive = (field: string, value: number | undefined, fallback: number) =>
      value === undefined
        ? Effect.succeed(fallback)
        : Number.isFinite(value) && value > 0
          ? Effect.succeed(value)
          : invalid(field, "must be a positive number of milliseconds")
    const count = (field: string, value: number | undefined, fallback: number, min: number) =>
      value === undefined
        ? Effect.succeed(fallback)
        : Number.isInteger(value) && value >= min
          ? Effect.succeed(value)
          : invalid(field, `must be an integer of at least ${min}`)
    const autoRefresh = config.autoRefresh ?? true
    return {
      autoRefresh,
      intervalMillis: yield* positive(
        "refreshIntervalMillis",
        config.refreshIntervalMillis,
        DEFAULT_REFRESH_INTERVAL_MILLIS
      ),
      queryTimeoutMillis: yield* positive(
        "refreshQueryTimeoutMillis",
        config.refreshQueryTimeoutMillis,
        DEFAULT_REFRESH_QUERY_TIMEOUT_MILLIS
      ),
      bootstrapPeers: config.bootstrapPeers ?? [],
      fixLowPeers: config.fixLowPeers ?? autoRefresh,
      lowPeersThreshold: yield* count("lowPeersThreshold", config.lowPeersThreshold, DEFAULT_LOW_PEERS_THRESHOLD, 0),
      lowPeersCheckIntervalMillis: yield* positive(
        "lowPeersCheckIntervalMillis",
        config.lowPeersCheckIntervalMillis,
        DEFAULT_LOW_PEERS_CHECK_INTERVAL_MILLIS
      ),
      lowPeersMinGapMillis:
        config.lowPeersMinGapMillis === undefined
          ? DEFAULT_LOW_PEERS_MIN_GAP_MILLIS
          : Number.isFinite(config.lowPeersMinGapMillis) && config.lowPeersMinGapMillis >= 0
            ? config.lowPeersMinGapMillis
            : yield* invalid("lowPeersMinGapMillis", "must be a non-negative number of milliseconds"),
      lowPeersBootstrapDials: yield* count(
        "lowPeersBootstrapDials",
        config.lowPeersBootstrapDials,
        DEFAULT_LOW_PEERS_BOOTSTRAP_DIALS,
        1
      ),
      staleAfterMillis:
        config.staleAfterMillis === undefined
          ? undefined
          : yield* positive("staleAfterMillis", config.staleAfterMillis, 0),
      peerTimeoutMillis: yield* positive("peerTimeoutMillis", config.peerTimeoutMillis, DEFAULT_PEER_TIMEOUT_MILLIS),
      livenessCheckConcurrency: yield* count(
        "livenessCheckConcurrency",
        config.livenessCheckConcurrency,
        DEFAULT_LIVENESS_CHECK_CONCURRENCY,
        1
      )
    }
  })

const defaultIsAlive = (network: NetworkShape, table: RoutingTableShape, timeoutMillis: number) =>
  lookupCheck(network, table, timeoutMillis)

const initialStatus: RefreshStatus = {
  running: false,
  completed: 0,
  lastRefresh: Option.none(),
  periodicIntervalMillis: Option.none(),
  lowPeersFixes: 0,
  lastLowPeersFix: Option.none()
}

const makeRefreshManager = (config: RefreshConfig) =>
  Effect.gen(function* () {
    const settings = yield* validate(config)
    const table = yield* RoutingTable
    const routing = yield* PeerRouting
    const network = yield* Network
    // a shared list (the public one, a cluster's) names its own members: never dial ourselves
    const bootstrapPeersNow = (): ReadonlyArray<PeerInfo> =>
      (config.bootstrapPeersFunc === undefined ? settings.bootstrapPeers : config.bootstrapPeersFunc()).filter(
        (peer) => !peer.id.equals(network.self)
      )

    const staleAfterMillis =
      settings.staleAfterMillis ??
      maxLastSuccessfulOutboundThresholdMillis({
        bucketSize: table.bucketSize,
        refreshIntervalMillis: settings.intervalMillis
      })
    const checkAlive = config.isAlive ?? defaultIsAlive(network, table, settings.peerTimeoutMillis)
    const isAlive = (peer: PeerId): Effect.Effect<boolean> =>
      checkAlive(peer).pipe(
        Effect.timeoutTo({
          duration: settings.peerTimeoutMillis,
          onTimeout: () => false,
          onSuccess: (alive) => alive
        }),
        Effect.catchAllCause((cause) =>
          Effect.logWarning("liveness check failed").pipe(
            Effect.annotateLogs({ peer: peer.toString(), cause: Cause.pretty(cause) }),
            Effect.as(false)
          )
        )
      )

    const status = yield* SubscriptionRef.make(initialStatus)
    const updateStatus = (f: (s: RefreshStatus) => RefreshStatus) => SubscriptionRef.update(status, f)
    const refreshLock = yield* Effect.makeSemaphore(1)
    // The recency window follows the running period, which `bootstrap` may change.
    let intervalMillis = settings.intervalMillis

    const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

    /** One refresh lookup, bounded by the query timeout; failures are logged, never raised. */
    const boundedLookup = (key: Uint8Array, what: string): Effect.Effect<RefreshLookupOutcome> =>
      routing.getClosestPeers(key).pipe(
        Effect.timeoutTo({
          duration: settings.queryTimeoutMillis,
          onTimeout: (): RefreshLookupOutcome => "timed-out",
          onSuccess: (): RefreshLookupOutcome => "completed"
        }),
        Effect.catchAllCause((cause) =>
          Effect.logWarning("routing table refresh lookup failed").pipe(
            Effect.annotateLogs({ lookup: what, cause: Cause.pretty(cause) }),
            Effect.as<RefreshLookupOutcome>("failed")
          )
        )
      )

    /** Liveness checks of the peers nothing was heard from lately; the dead ones leave the table. */
    const pingStalePeers = Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const peers = yield* table.listPeers
      const stale = peers.filter((p) => at - p.lastSuccessfulOutboundQueryAt.getTime() > staleAfterMillis)
      const evicted = yield* Effect.forEach(
        stale,
        (peer) =>
          Effect.flatMap(isAlive(peer.id), (alive) =>
            alive
              ? Effect.as(table.markSuccessfulOutboundQuery(peer.id), Option.none<PeerId>())
              : Effect.map(table.remove(peer.id), (removed) => (removed ? Option.some(peer.id) : Option.none()))
          ),
        { concurrency: settings.livenessCheckConcurrency }
      )
      return { checked: stale.length, evicted: evicted.flatMap(Option.toArray) }
    })

    const refreshBucket = (
      cpl: number,
      lastRefreshedAt: Date | undefined,
      force: boolean
    ): Effect.Effect<BucketRefreshOutcome> =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        if (!force && lastRefreshedAt !== undefined && at - lastRefreshedAt.getTime() < intervalMillis) {
          return { cpl, outcome: "skipped" }
        }
        const key = yield* randomKeyForCpl(table.localKadId, cpl)
        const outcome = yield* boundedLookup(key, `bucket ${cpl}`)
        // as go: only a lookup that ran to completion counts as a refresh of its bucket
        if (outcome === "completed") yield* table.markBucketRefreshed(cpl)
        return { cpl, outcome }
      })

    const runRefresh = (force: boolean): Effect.Effect<RefreshReport> =>
      Effect.gen(function* () {
        const startedAt = yield* now
        const sizeBefore = yield* table.size
        const pinged = yield* pingStalePeers.pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning("routing table liveness checks failed").pipe(
              Effect.annotateLogs({ cause: Cause.pretty(cause) }),
              Effect.as({ checked: 0, evicted: [] as Array<PeerId> })
            )
          )
        )
        // Self first, as go does: it fills the deep buckets, so the bucket range below reflects them.
        const self = yield* boundedLookup(network.self.toMultihash().bytes, "self")
        const infos = yield* table.buckets
        const tracked = Math.min(infos.length, MAX_CPL_FOR_REFRESH + 1)
        const buckets: Array<BucketRefreshOutcome> = []
        for (let cpl = 0; cpl < tracked; cpl++) {
          const done = yield* refreshBucket(cpl, infos[cpl].lastRefreshedAt, force)
          buckets.push(done)
          if (done.outcome === "failed" || (yield* table.peerCountForCpl(cpl)) > 0) continue
          // go's gap rule: an empty bucket after its refresh means the network is thin
          // here, so only a few deeper buckets (up to cpl 2(c+1)) are worth a lookup.
          const last = Math.min(2 * (cpl + 1), tracked - 1)
          for (let deeper = cpl + 1; deeper <= last; deeper++) {
            buckets.push(yield* refreshBucket(deeper, infos[deeper].lastRefreshedAt, force))
          }
          break
        }
        return {
          forced: force,
          startedAt,
          finishedAt: yield* now,
          sizeBefore,
          sizeAfter: yield* table.size,
          checked: pinged.checked,
          evicted: pinged.evicted,
          self,
          buckets
        } satisfies RefreshReport
      })

    const refresh = (options: RefreshOptions = {}): Effect.Effect<RefreshReport> =>
      refreshLock
        .withPermits(1)(
          Effect.acquireUseRelease(
            updateStatus((s) => ({ ...s, running: true })),
            () =>
              Effect.tap(runRefresh(options.force ?? false), (report) =>
                updateStatus((s) => ({ ...s, completed: s.completed + 1, lastRefresh: Option.some(report) }))
              ),
            () => updateStatus((s) => ({ ...s, running: false }))
          )
        )
        .pipe(Effect.withSpan("RefreshManager.refresh"))

    /** Dials one bootstrap peer and offers it to the table as replaceable. */
    const dialBootstrapPeer = (peer: PeerInfo): Effect.Effect<void, RequestError> =>
      Effect.gen(function* () {
        yield* network.rememberAddresses(peer)
        yield* network.connect(peer, { timeoutMillis: settings.peerTimeoutMillis })
        const known = yield* network.addressesOf(peer.id)
        yield* table.tryAdd(
          { id: peer.id, multiaddrs: known.length > 0 ? known : peer.multiaddrs },
          { isReplaceable: true }
        )
      })

    /**
     * go's `fixLowPeers`: when the table is low, offer it every connected DHT
     * server, and when that is not enough, connect to bootstrap peers in
     * random order until `lowPeersBootstrapDials` of them answered.
     */
    /**
     * Offers a connected peer that the peer store lists as a DHT server,
     * after the liveness check a new peer gets. The list alone is not
     * enough: js-libp2p records the protocol of every stream a peer opens to
     * us, so a client that queried us is listed too, and go checks such
     * peers (`peerFound`) before admitting them as well.
     */
    const admitConnected = (peer: PeerInfo): Effect.Effect<boolean> =>
      Effect.flatMap(table.find(peer.id), (known) =>
        Option.isSome(known)
          ? table.tryAdd(peer)
          : Effect.flatMap(isAlive(peer.id), (alive) => (alive ? table.tryAdd(peer) : Effect.succeed(false)))
      )

    const fixLowPeersOnce: Effect.Effect<Option.Option<LowPeersFixReport>> = Effect.gen(function* () {
      const sizeBefore = yield* table.size
      if (sizeBefore > settings.lowPeersThreshold) return Option.none()
      const at = yield* now
      const connected = yield* network.connectedServers
      const added = yield* Effect.forEach(connected, admitConnected, { concurrency: settings.livenessCheckConcurrency })
      const bootstrapConnected: Array<PeerId> = []
      const bootstrapFailed: Array<PeerId> = []
      const bootstrapPeers = bootstrapPeersNow()
      if ((yield* table.size) <= settings.lowPeersThreshold && bootstrapPeers.length > 0) {
        for (const peer of yield* Random.shuffle(bootstrapPeers)) {
          if (bootstrapConnected.length >= settings.lowPeersBootstrapDials) break
          const dialed = yield* Effect.either(dialBootstrapPeer(peer))
          if (dialed._tag === "Right") bootstrapConnected.push(peer.id)
          else {
            bootstrapFailed.push(peer.id)
            yield* Effect.logWarning("bootstrap peer unreachable").pipe(
              Effect.annotateLogs({ peer: peer.id.toString(), error: dialed.left.message })
            )
          }
        }
      }
      const report: LowPeersFixReport = {
        at,
        sizeBefore,
        addedFromConnections: added.filter(Boolean).length,
        bootstrapConnected,
        bootstrapFailed,
        sizeAfter: yield* table.size
      }
      yield* updateStatus((s) => ({ ...s, lowPeersFixes: s.lowPeersFixes + 1, lastLowPeersFix: Option.some(report) }))
      return Option.some(report)
    })

    // Only runs that acted start the minimum gap: a no-op size check must not delay a real fix.
    let lastFixAt = Number.NEGATIVE_INFINITY
    const fixLowPeers = Effect.tap(fixLowPeersOnce, (report) =>
      Effect.sync(() => {
        if (Option.isSome(report)) lastFixAt = report.value.at.getTime()
      })
    )

    /** The fix, then (with auto refresh) a refresh once the table has someone to ask. */
    const fixThenRefresh = Effect.gen(function* () {
      const fixed = yield* fixLowPeers
      if (Option.isNone(fixed) || !settings.autoRefresh || fixed.value.sizeAfter === 0) return
      // A table that had emptied out has no refresh times worth trusting.
      yield* refresh({ force: fixed.value.sizeBefore === 0 })
    })

    const logged = <A>(what: string, effect: Effect.Effect<A>): Effect.Effect<void> =>
      effect.pipe(
        Effect.asVoid,
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logError(`${what} failed`).pipe(Effect.annotateLogs({ cause: Cause.pretty(cause) }))
        )
      )

    // The periodic loop waits for the start-up work, so its first period counts from the end of it.
    const startupDone = yield* Deferred.make<void>()
    const periodic = yield* FiberHandle.make<never, never>()

    /** (Re)starts the periodic refresh: `period` after the previous refresh ends, the next begins. */
    const startPeriodic = (period: number) =>
      Effect.gen(function* () {
        yield* FiberHandle.clear(periodic)
        intervalMillis = period
        yield* updateStatus((s) => ({ ...s, periodicIntervalMillis: Option.some(period) }))
        const loop = logged("periodic routing table refresh", refresh()).pipe(Effect.delay(period), Effect.forever)
        yield* FiberHandle.run(periodic, Effect.zipRight(Deferred.await(startupDone), loop))
      })

    /** The connected DHT servers, once identify has told which connected peers are ones, offered to the table. */
    const joinThroughConnections = Effect.gen(function* () {
      const peers = yield* network.connectedPeers
      yield* network.awaitIdentified(peers).pipe(Effect.timeout(settings.peerTimeoutMillis), Effect.ignore)
      const servers = yield* network.connectedServers
      const offered = yield* Effect.forEach(
        servers,
        (peer) => Effect.map(admitConnected(peer), (added) => (added ? Option.some(peer.id) : Option.none<PeerId>())),
        { concurrency: settings.livenessCheckConcurrency }
      )
      return Option.reduceCompact(offered, [] as Array<PeerId>, (acc, id) => [...acc, id])
    })

    const bootstrap = (options: BootstrapOptions = {}): Effect.Effect<BootstrapReport> =>
      Effect.gen(function* () {
        let period: number | undefined
        if (options.periodicRefreshInterval !== undefined) {
          period = Duration.toMillis(Duration.decode(options.periodicRefreshInterval))
          if (!(period > 0 && Number.isFinite(period))) {
            return yield* Effect.dieMessage("periodicRefreshInterval must be a positive, finite duration")
          }
        }
        const bootstrapPeers = bootstrapPeersNow()
        if (bootstrapPeers.length === 0) {
          const joined = yield* joinThroughConnections
          const full = options.quickConnectOnly === true ? Option.none() : Option.some(yield* refresh({ force: true }))
          if (period !== undefined) yield* startPeriodic(period)
          return { connected: joined, failed: [], refresh: full } satisfies BootstrapReport
        }
        const dials = yield* Effect.forEach(
          bootstrapPeers,
          (peer) => Effect.either(dialBootstrapPeer(peer)).pipe(Effect.map((result) => ({ peer: peer.id, result }))),
          { concurrency: "unbounded" }
        )
        const connected: Array<PeerId> = []
        const failed: Array<{ peer: PeerId; error: RequestError }> = []
        for (const { peer, result } of dials) {
          if (result._tag === "Right") connected.push(peer)
          else failed.push({ peer, error: result.left })
        }
        const full = options.quickConnectOnly === true ? Option.none() : Option.some(yield* refresh({ force: true }))
        if (period !== undefined) yield* startPeriodic(period)
        return { connected, failed, refresh: full } satisfies BootstrapReport
      }).pipe(Effect.withSpan("RefreshManager.bootstrap"))

    if (settings.fixLowPeers) {
      const triggers = yield* Queue.dropping<void>(1)
      const events = yield* table.subscribe
      yield* Stream.runForEach(events, (event) =>
        event._tag === "PeerRemoved"
          ? Effect.flatMap(table.size, (size) =>
              size <= settings.lowPeersThreshold ? Queue.offer(triggers, undefined) : Effect.void
            )
          : Effect.void
      ).pipe(Effect.forkScoped)
      yield* Queue.offer(triggers, undefined).pipe(
        Effect.delay(settings.lowPeersCheckIntervalMillis),
        Effect.forever,
        Effect.forkScoped
      )
      // One run at a time; a trigger arriving within the minimum gap of the last run waits for the gap to pass.
      yield* Effect.gen(function* () {
        yield* Queue.take(triggers)
        const wait = lastFixAt + settings.lowPeersMinGapMillis - (yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.sleep(wait)
        yield* logged("low-peer fix", fixThenRefresh)
      }).pipe(Effect.forever, Effect.forkScoped)
    }

    // Like go: fix a low table first so the start-up refresh has peers to ask, and force that refresh.
    const startup = Effect.zipRight(
      settings.fixLowPeers ? logged("low-peer fix", fixLowPeers) : Effect.void,
      settings.autoRefresh ? logged("start-up routing table refresh", refresh({ force: true })) : Effect.void
    )
    yield* Effect.forkScoped(Effect.ensuring(startup, Deferred.succeed(startupDone, undefined)))
    if (settings.autoRefresh) yield* startPeriodic(settings.intervalMillis)

    if (settings.autoRefresh && config.addressChanges !== undefined) {
      const changed = yield* Queue.sliding<void>(1)
      yield* Stream.runForEach(config.addressChanges, () => Queue.offer(changed, undefined)).pipe(Effect.forkScoped)
      yield* Effect.gen(function* () {
        yield* Queue.take(changed)
        yield* Deferred.await(startupDone)
        yield* logged("routing table refresh after an address change", refresh())
      }).pipe(Effect.forever, Effect.forkScoped)
    }

    return {
      refresh,
      bootstrap,
      status: SubscriptionRef.get(status),
      statusChanges: status.changes
    } satisfies RefreshManagerShape
  })
