/**
 * The candidate set of one lookup: every peer heard of, sorted by distance
 * to the target, with the state of its query.
 *
 * @internal
 * @module
 */
import { compareDistance, type KadId, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"

/** Where a candidate's query stands. */
export enum CandidateState {
  /** Heard of, not asked yet. */
  Heard = 0,
  /** Asked, within its deadline: holds a concurrency slot and blocks termination. */
  Waiting = 1,
  /** Answered. */
  Queried = 2,
  /** Failed to answer. */
  Unreachable = 3,
  /**
   * Asked, past its deadline and not answered yet: it no longer holds a slot
   * nor blocks termination, but a late answer still counts.
   */
  Overdue = 4
}

/** One peer of the candidate set. */
export interface Candidate {
  readonly info: PeerInfo
  readonly kadId: KadId
  /** Referral depth: 0 for seeds, one more than the peer that named it. */
  readonly hop: number
  state: CandidateState
  /** Set by the deadline timer itself, before the engine settles it: the query is overdue. */
  pastDeadline: boolean
  /** Waiting longer than most answers take: the next candidate is asked beside it (see `deadline.ts`). */
  suspect: boolean
  /** Whether its query holds one of the `alpha` concurrency slots. */
  holdsSlot: boolean
}

/** Neither failed nor overdue: a peer the lookup still counts on. */
const counted = (c: Candidate): boolean => c.state !== CandidateState.Unreachable && c.state !== CandidateState.Overdue

/**
 * Sizes stay in the hundreds, so a sorted array with binary insertion beats
 * any tree.
 */
export class CandidateSet {
  private readonly byId = new Map<string, Candidate>()
  readonly sorted: Array<Candidate> = []

  constructor(
    private readonly target: KadId,
    private readonly selfKey: string
  ) {}

  add(info: PeerInfo, hop: number): boolean {
    const key = info.id.toString()
    if (key === this.selfKey || this.byId.has(key)) return false
    const candidate: Candidate = {
      info,
      kadId: kadIdOfPeer(info.id),
      hop,
      state: CandidateState.Heard,
      pastDeadline: false,
      suspect: false,
      holdsSlot: false
    }
    this.byId.set(key, candidate)
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareDistance(this.sorted[mid].kadId, candidate.kadId, this.target) <= 0) lo = mid + 1
      else hi = mid
    }
    this.sorted.splice(lo, 0, candidate)
    return true
  }

  /** The closest `n` peers that have neither failed nor run past their deadline. */
  closestCounted(n: number): Array<Candidate> {
    const out: Array<Candidate> = []
    for (const c of this.sorted) {
      if (!counted(c)) continue
      out.push(c)
      if (out.length === n) break
    }
    return out
  }

  /**
   * Closest peers not yet asked, up to `n`, only among the `within` closest
   * counted peers: a failed or overdue peer brings the next one into reach,
   * and so does a suspect one, which stays counted for termination.
   */
  nextToQuery(n: number, within = Number.POSITIVE_INFINITY): Array<Candidate> {
    const out: Array<Candidate> = []
    if (n <= 0) return out
    let live = 0
    for (const c of this.sorted) {
      if (!counted(c)) continue
      if (c.suspect && c.state === CandidateState.Waiting) continue
      if (live++ >= within) break
      if (c.state === CandidateState.Heard) {
        out.push(c)
        if (out.length === n) break
      }
    }
    return out
  }

  /** Candidates in `state`. */
  inState(state: CandidateState): Array<Candidate> {
    return this.sorted.filter((c) => c.state === state)
  }
}
