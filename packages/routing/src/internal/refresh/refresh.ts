/**
 * The routing table refresh, as go-libp2p-kad-dht's `rtrefresh` package
 * does it: liveness checks of the peers nothing was heard from lately, a
 * lookup of the local node, then a lookup of a random key in each bucket
 * from 0 to the deepest non-empty one (at most {@link MAX_CPL_FOR_REFRESH}),
 * skipping buckets refreshed within the interval unless forced.
 *
 * @module
 */
import type { NetworkShape } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { PeerRoutingShape } from "../../peer-routing/peer-routing.js"
import type {
  BucketRefreshOutcome,
  RefreshLookupOutcome,
  RefreshOptions,
  RefreshReport,
  RefreshStatus
} from "../../refresh/refresh-manager.js"
import type { RoutingTableShape } from "../../routing-table/routing-table.js"
import type { Settings } from "./config.js"
import { MAX_CPL_FOR_REFRESH, randomKeyForCpl } from "./keys.js"

/** What the refresh works with. */
export interface RefreshDeps {
  readonly settings: Settings
  readonly table: RoutingTableShape
  readonly routing: PeerRoutingShape
  readonly network: NetworkShape
  /** Whether a peer answers, bounded and never failing. */
  readonly isAlive: (peer: PeerId) => Effect.Effect<boolean>
  readonly updateStatus: (f: (s: RefreshStatus) => RefreshStatus) => Effect.Effect<void>
  readonly staleAfterMillis: number
}

/** The refresh operation and the period it counts buckets as fresh within. */
export interface Refresher {
  readonly refresh: (options?: RefreshOptions) => Effect.Effect<RefreshReport>
  /** Sets the recency window, which follows the running periodic refresh. */
  readonly setIntervalMillis: (millis: number) => void
}

/**
 * Builds the refresh; refreshes never overlap, a call made during one waits
 * for it to end.
 *
 * @example
 * ```ts
 * const { refresh } = yield* makeRefresher(deps)
 * const report = yield* refresh({ force: true })
 * ```
 */
export const makeRefresher = (deps: RefreshDeps): Effect.Effect<Refresher> =>
  Effect.gen(function* () {
    const { settings, table, routing, network, isAlive, updateStatus, staleAfterMillis } = deps
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

    return {
      refresh,
      setIntervalMillis: (millis: number) => {
        intervalMillis = millis
      }
    }
  })

/**
 * Runs `effect` in the background's way: a failure is logged as `what
 * failed`, an interruption passes silently.
 *
 * @example
 * ```ts
 * yield* logged("periodic routing table refresh", refresh())
 * ```
 */
export const logged = <A>(what: string, effect: Effect.Effect<A>): Effect.Effect<void> =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError(`${what} failed`).pipe(Effect.annotateLogs({ cause: Cause.pretty(cause) }))
    )
  )
