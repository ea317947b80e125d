/**
 * Peers whose lookup query failed lately, so lookups stop waiting on them.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"

/** How long a peer whose query failed is not waited for by lookups. */
const FAILED_RECENTLY_MILLIS = 10 * 60 * 1000

/** Most peers remembered as failed; the oldest is forgotten first. */
const FAILED_RECENTLY_LIMIT = 4096

/**
 * Peers whose lookup query failed (a timeout, a refused dial) in the last
 * ten minutes. The public network keeps naming silent peers in its
 * answers; remembering them keeps every lookup from waiting out the same
 * ones again. Bounded, insertion-ordered.
 */
export class RecentFailures {
  private readonly until = new Map<string, number>()

  add(peer: PeerId): void {
    const key = peer.toString()
    this.until.delete(key)
    this.until.set(key, Date.now() + FAILED_RECENTLY_MILLIS)
    if (this.until.size > FAILED_RECENTLY_LIMIT) {
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
