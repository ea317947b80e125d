/**
 * The `RefreshManager` service: keeps the routing table healthy the way
 * go-libp2p-kad-dht's `RtRefreshManager` and `fixLowPeers` do.
 *
 * A refresh checks peers nobody has heard from for a while and evicts those
 * that do not answer, looks the local node up, then looks up a random key
 * in each bucket from 0 to the deepest non-empty one (at most
 * go's `maxCplForRefresh`, 15), skipping buckets refreshed within the
 * refresh interval unless forced. Refreshes run at start and then
 * periodically; a separate low-peer fix refills a table that ran low from
 * the live connections and the bootstrap peers.
 *
 * @module
 */

import type { InvalidOptionError } from "@effect-kad/core"
import { Network, type PeerInfo, type RequestError } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberHandle from "effect/FiberHandle"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { makeBootstrap } from "../internal/refresh/bootstrap.js"
import { type RefreshConfig, validate } from "../internal/refresh/config.js"
import { makeLowPeersFix } from "../internal/refresh/low-peers.js"
import { logged, makeRefresher } from "../internal/refresh/refresh.js"
import { lookupCheck } from "../peer-routing/lookup-check.js"
import { PeerRouting } from "../peer-routing/peer-routing.js"
import { maxLastSuccessfulOutboundThresholdMillis } from "../routing-table/config.js"
import { RoutingTable } from "../routing-table/routing-table.js"

export {
  DEFAULT_LIVENESS_CHECK_CONCURRENCY,
  DEFAULT_LOW_PEERS_BOOTSTRAP_DIALS,
  DEFAULT_LOW_PEERS_CHECK_INTERVAL_MILLIS,
  DEFAULT_LOW_PEERS_MIN_GAP_MILLIS,
  DEFAULT_LOW_PEERS_THRESHOLD,
  DEFAULT_PEER_TIMEOUT_MILLIS,
  DEFAULT_REFRESH_QUERY_TIMEOUT_MILLIS,
  type RefreshConfig
} from "../internal/refresh/config.js"

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
 * const node = RefreshManager.layer({ bootstrapPeers }).pipe(Layer.provideMerge(layerPeerRouting(config)))
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
    const checkAlive = config.isAlive ?? lookupCheck(network, table, settings.peerTimeoutMillis)
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

    const refresher = yield* makeRefresher({
      settings,
      table,
      routing,
      network,
      isAlive,
      updateStatus,
      staleAfterMillis
    })
    const refresh = refresher.refresh
    const lowPeers = makeLowPeersFix({ settings, table, network, isAlive, bootstrapPeersNow, updateStatus, refresh })
    const fixLowPeers = lowPeers.fixLowPeers

    // The periodic loop waits for the start-up work, so its first period counts from the end of it.
    const startupDone = yield* Deferred.make<void>()
    const periodic = yield* FiberHandle.make<never, never>()

    /** (Re)starts the periodic refresh: `period` after the previous refresh ends, the next begins. */
    const startPeriodic = (period: number) =>
      Effect.gen(function* () {
        yield* FiberHandle.clear(periodic)
        refresher.setIntervalMillis(period)
        yield* updateStatus((s) => ({ ...s, periodicIntervalMillis: Option.some(period) }))
        const loop = logged("periodic routing table refresh", refresh()).pipe(Effect.delay(period), Effect.forever)
        yield* FiberHandle.run(periodic, Effect.zipRight(Deferred.await(startupDone), loop))
      })

    const bootstrap = makeBootstrap({ settings, table, network, isAlive, bootstrapPeersNow, refresh, startPeriodic })

    if (settings.fixLowPeers) yield* lowPeers.runOnTriggers

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
