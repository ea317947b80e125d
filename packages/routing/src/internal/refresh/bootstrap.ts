/**
 * Joining the network, as go-libp2p-kad-dht's `dht_bootstrap.go` does it:
 * dial the bootstrap peers and offer those reached to the table, or, with
 * none configured, offer the connected DHT servers; then a forced refresh.
 *
 * @module
 */
import type { NetworkShape, PeerInfo, RequestError } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { BootstrapOptions, BootstrapReport } from "../../refresh/refresh-manager.js"
import type { RoutingTableShape } from "../../routing-table/routing-table.js"
import type { Settings } from "./config.js"
import type { Refresher } from "./refresh.js"

/**
 * Dials one bootstrap peer and offers it to the table as replaceable, so
 * organically found peers take its place.
 *
 * @example
 * ```ts
 * yield* dialBootstrapPeer(network, table, 10_000)(peer)
 * ```
 */
export const dialBootstrapPeer =
  (network: NetworkShape, table: RoutingTableShape, timeoutMillis: number) =>
  (peer: PeerInfo): Effect.Effect<void, RequestError> =>
    Effect.gen(function* () {
      yield* network.rememberAddresses(peer)
      yield* network.connect(peer, { timeoutMillis })
      const known = yield* network.addressesOf(peer.id)
      yield* table.tryAdd(
        { id: peer.id, multiaddrs: known.length > 0 ? known : peer.multiaddrs },
        { isReplaceable: true }
      )
    })

/**
 * Offers a connected peer that the peer store lists as a DHT server,
 * after the liveness check a new peer gets. The list alone is not
 * enough: js-libp2p records the protocol of every stream a peer opens to
 * us, so a client that queried us is listed too, and go checks such
 * peers (`peerFound`) before admitting them as well.
 *
 * @example
 * ```ts
 * const added = yield* admitConnected(table, isAlive)(peer)
 * ```
 */
export const admitConnected =
  (table: RoutingTableShape, isAlive: (peer: PeerId) => Effect.Effect<boolean>) =>
  (peer: PeerInfo): Effect.Effect<boolean> =>
    Effect.flatMap(table.find(peer.id), (known) =>
      Option.isSome(known)
        ? table.tryAdd(peer)
        : Effect.flatMap(isAlive(peer.id), (alive) => (alive ? table.tryAdd(peer) : Effect.succeed(false)))
    )

/** What joining the network works with: bootstrapping and the low-peer fix alike. */
export interface JoinDeps {
  readonly settings: Settings
  readonly table: RoutingTableShape
  readonly network: NetworkShape
  readonly isAlive: (peer: PeerId) => Effect.Effect<boolean>
  /** The bootstrap peers as of now, without ourselves. */
  readonly bootstrapPeersNow: () => ReadonlyArray<PeerInfo>
  readonly refresh: Refresher["refresh"]
}

/** What bootstrapping works with. */
export interface BootstrapDeps extends JoinDeps {
  /** (Re)starts the periodic refresh with this period. */
  readonly startPeriodic: (period: number) => Effect.Effect<void>
}

/**
 * The `bootstrap` operation of the `RefreshManager`.
 *
 * @example
 * ```ts
 * const bootstrap = makeBootstrap(deps)
 * const report = yield* bootstrap({ quickConnectOnly: true })
 * ```
 */
export const makeBootstrap = (
  deps: BootstrapDeps
): ((options?: BootstrapOptions) => Effect.Effect<BootstrapReport>) => {
  const { settings, table, network, bootstrapPeersNow, refresh, startPeriodic } = deps
  const dial = dialBootstrapPeer(network, table, settings.peerTimeoutMillis)
  const admit = admitConnected(table, deps.isAlive)

  /** The connected DHT servers, once identify has told which connected peers are ones, offered to the table. */
  const joinThroughConnections = Effect.gen(function* () {
    const peers = yield* network.connectedPeers
    yield* network.awaitIdentified(peers).pipe(Effect.timeout(settings.peerTimeoutMillis), Effect.ignore)
    const servers = yield* network.connectedServers
    const offered = yield* Effect.forEach(
      servers,
      (peer) => Effect.map(admit(peer), (added) => (added ? Option.some(peer.id) : Option.none<PeerId>())),
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
        (peer) => Effect.either(dial(peer)).pipe(Effect.map((result) => ({ peer: peer.id, result }))),
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

  return bootstrap
}
