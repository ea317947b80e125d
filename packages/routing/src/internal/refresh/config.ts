/**
 * Settings of the `RefreshManager`: their defaults (go-libp2p-kad-dht's
 * where it has one) and their validation.
 *
 * @module
 */
import { InvalidOptionError, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import { DEFAULT_REFRESH_INTERVAL_MILLIS } from "../../routing-table/config.js"

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

/** Settings of the `RefreshManager`. */
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
   * `maxLastSuccessfulOutboundThresholdMillis` for the table's bucket
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

/** {@link RefreshConfig} with its defaults filled in, once validated. */
export interface Settings {
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

/**
 * Fills in the defaults of `config` and checks each field, failing on the
 * first invalid one.
 *
 * @example
 * ```ts
 * const settings = yield* validate({ refreshIntervalMillis: 60_000 })
 * ```
 */
export const validate = (config: RefreshConfig): Effect.Effect<Settings, InvalidOptionError> =>
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
