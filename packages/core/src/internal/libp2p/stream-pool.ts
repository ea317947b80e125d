/**
 * The outbound stream pool of the libp2p `Network`: idle DHT streams
 * kept per peer for the next message, request or one-way, as the spec
 * allows and as go-libp2p-kad-dht's message manager keeps one sender per
 * peer.
 *
 * @module
 */
import type { FramedStream } from "./framed.js"

interface IdleStream {
  readonly framed: FramedStream
  readonly timer: ReturnType<typeof setTimeout>
}

/**
 * Idle outbound streams per peer. Plain callbacks rather than fibers: an
 * entry lives only until a timer fires or the remote closes, and both are
 * host events.
 */
export class StreamPool {
  private readonly idle = new Map<string, Array<IdleStream>>()
  private closed = false

  constructor(
    private readonly maxPerPeer: number,
    private readonly idleMillis: number
  ) {}

  /** An idle stream to `peer` that is still healthy, if any. */
  take(peer: string): FramedStream | undefined {
    const list = this.idle.get(peer)
    while (list !== undefined && list.length > 0) {
      const entry = list.pop()!
      if (list.length === 0) this.idle.delete(peer)
      clearTimeout(entry.timer)
      entry.framed.onTerminate = undefined
      if (entry.framed.isIdle) return entry.framed
      entry.framed.abort("stale pooled stream")
    }
    return undefined
  }

  /**
   * Keeps a stream whose exchange completed cleanly, or closes it when it
   * cannot carry another message (the remote closed its side, sent more
   * than was asked) or the pool is full.
   */
  put(peer: string, framed: FramedStream): void {
    const list = this.idle.get(peer) ?? []
    if (this.closed || !framed.isIdle || list.length >= this.maxPerPeer) {
      framed.closeInBackground()
      return
    }
    const timer = setTimeout(() => {
      this.remove(peer, entry)
      framed.closeInBackground()
    }, this.idleMillis)
    timer.unref?.()
    const entry: IdleStream = { framed, timer }
    // The remote closed or reset while idle: finish our side now rather than at the timer.
    framed.onTerminate = () => {
      this.remove(peer, entry)
      clearTimeout(timer)
      framed.closeInBackground()
    }
    list.push(entry)
    this.idle.set(peer, list)
  }

  /** Drops every idle stream to `peer` (its connection went away). */
  drop(peer: string): void {
    const list = this.idle.get(peer)
    if (list === undefined) return
    this.idle.delete(peer)
    for (const entry of list) {
      clearTimeout(entry.timer)
      entry.framed.onTerminate = undefined
      entry.framed.abort("peer disconnected")
    }
  }

  /** Closes every idle stream and refuses new ones. */
  close(): void {
    this.closed = true
    for (const [peer, list] of this.idle) {
      this.idle.delete(peer)
      for (const entry of list) {
        clearTimeout(entry.timer)
        entry.framed.onTerminate = undefined
        entry.framed.closeInBackground()
      }
    }
  }

  private remove(peer: string, entry: IdleStream): void {
    const list = this.idle.get(peer)
    if (list === undefined) return
    const index = list.indexOf(entry)
    if (index >= 0) list.splice(index, 1)
    if (list.length === 0) this.idle.delete(peer)
  }
}
