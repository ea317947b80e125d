/**
 * The low-peer fix, go-libp2p-kad-dht's `fixLowPeers`: when the table runs
 * low, offer it every connected DHT server, and when that is not enough,
 * connect to bootstrap peers in random order until enough of them answered.
 * It runs when a peer leaving makes the table low, on a period, and never
 * twice within the minimum gap.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LowPeersFixReport, RefreshStatus } from "../../refresh/refresh-manager.js"
import { admitConnected, dialBootstrapPeer, type JoinDeps } from "./bootstrap.js"
import { logged } from "./refresh.js"

/** What the low-peer fix works with. */
export interface LowPeersDeps extends JoinDeps {
  readonly updateStatus: (f: (s: RefreshStatus) => RefreshStatus) => Effect.Effect<void>
}

/** The fix run once, and its triggers. */
export interface LowPeersFix {
  /** One run: none when the table was not low. */
  readonly fixLowPeers: Effect.Effect<Option.Option<LowPeersFixReport>>
  /** Runs the fix (then, with auto refresh, a refresh) on its triggers, for the scope's lifetime. */
  readonly runOnTriggers: Effect.Effect<void, never, Scope.Scope>
}

/**
 * Builds the low-peer fix.
 *
 * @example
 * ```ts
 * const { fixLowPeers, runOnTriggers } = makeLowPeersFix(deps)
 * yield* runOnTriggers
 * ```
 */
export const makeLowPeersFix = (deps: LowPeersDeps): LowPeersFix => {
  const { settings, table, network, bootstrapPeersNow, updateStatus, refresh } = deps
  const dialBootstrap = dialBootstrapPeer(network, table, settings.peerTimeoutMillis)
  const admit = admitConnected(table, deps.isAlive)
  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  const fixLowPeersOnce: Effect.Effect<Option.Option<LowPeersFixReport>> = Effect.gen(function* () {
    const sizeBefore = yield* table.size
    if (sizeBefore > settings.lowPeersThreshold) return Option.none()
    const at = yield* now
    const connected = yield* network.connectedServers
    const added = yield* Effect.forEach(connected, admit, { concurrency: settings.livenessCheckConcurrency })
    const bootstrapConnected: Array<PeerId> = []
    const bootstrapFailed: Array<PeerId> = []
    const bootstrapPeers = bootstrapPeersNow()
    if ((yield* table.size) <= settings.lowPeersThreshold && bootstrapPeers.length > 0) {
      for (const peer of yield* Random.shuffle(bootstrapPeers)) {
        if (bootstrapConnected.length >= settings.lowPeersBootstrapDials) break
        const dialed = yield* Effect.either(dialBootstrap(peer))
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

  const runOnTriggers = Effect.gen(function* () {
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
  })

  return { fixLowPeers, runOnTriggers }
}
