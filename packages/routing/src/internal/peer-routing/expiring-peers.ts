/**
 * Peers lookups stop waiting on: those whose query failed lately, and those
 * whose query is running past its deadline right now.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"

/** How long a peer whose query failed is not waited for by lookups. */
const FAILED_RECENTLY_MILLIS = 10 * 60 * 1000

/** Most peers remembered; the oldest is forgotten first. */
const REMEMBERED_LIMIT = 4096

/**
 * A bounded, insertion-ordered set of peers, each remembered for
 * `ttlMillis` after it was last added.
 *
 * With the defaults: peers whose lookup query failed (a timeout, a refused
 * dial) in the last ten minutes. The public network keeps naming silent
 * peers in its answers; remembering them keeps every lookup from waiting
 * out the same ones again.
 *
 * @example
 * ```ts
 * const failed = new ExpiringPeers()
 * failed.add(peer)
 * failed.has(peer) // true for ten minutes, or until `delete(peer)`
 * ```
 */
export class ExpiringPeers {
  private readonly until = new Map<string, number>()

  constructor(
    private readonly ttlMillis: number = FAILED_RECENTLY_MILLIS,
    private readonly limit: number = REMEMBERED_LIMIT
  ) {}

  add(peer: PeerId): void {
    const key = peer.toString()
    this.until.delete(key)
    this.until.set(key, Date.now() + this.ttlMillis)
    if (this.until.size > this.limit) {
      const oldest = this.until.keys().next()
      if (oldest.done !== true) this.until.delete(oldest.value)
    }
  }

  delete(peer: PeerId): void {
    this.until.delete(peer.toString())
  }

  has(peer: PeerId): boolean {
    const key = peer.toString()
    const until = this.until.get(key)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.until.delete(key)
    return false
  }
}
