/**
 * The iterative Kademlia lookup, one engine for every operation
 * (FIND_NODE, GET_VALUE, GET_PROVIDERS).
 *
 * It follows go-libp2p-kad-dht: candidates are seeded from the routing
 * table, at most `alpha` requests are in flight, only the `k` closest live
 * candidates are asked, and the search phase ends
 * when the `beta` closest peers that have not failed have all answered (or
 * when candidates run out). A follow-up phase then queries whichever of the
 * `k` closest peers were heard of but not yet asked, so the result is the
 * `k` closest peers that actually answered, as the spec requires.
 *
 * Callers observe progress as a stream of events, can stop early with a
 * predicate (a value quorum, a found peer), and cancel by interrupting.
 *
 * @module
 */

import { compareDistance, type KadId, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { Effect, FiberSet, Queue, Stream } from "effect"

/** What one peer answered to a lookup query. */
export interface QueryOutcome<A> {
  /** Peers the responder knows closer to the target. */
  readonly closer: ReadonlyArray<PeerInfo>
  /** Operation-specific payload (a record, providers); absent for plain FIND_NODE. */
  readonly payload?: A
}

/** Progress of a lookup. */
export type LookupEvent<A, E> =
  | { readonly _tag: "QuerySent"; readonly peer: PeerId; readonly hop: number }
  | {
      readonly _tag: "PeerResponded"
      readonly peer: PeerId
      readonly hop: number
      readonly outcome: QueryOutcome<A>
      readonly elapsedMillis: number
    }
  | { readonly _tag: "PeerFailed"; readonly peer: PeerId; readonly error: E }
  | { readonly _tag: "Finished"; readonly result: LookupResult }

/** How a lookup ended. */
export interface LookupResult {
  /** Up to `k` closest peers that answered, closest first. */
  readonly closest: ReadonlyArray<PeerInfo>
  /** Number of peers that answered. */
  readonly responded: number
  /** Number of queries sent, follow-up included. */
  readonly queried: number
  /** Number of peers that failed to answer. */
  readonly failed: number
  /** Longest referral chain from a seed to an answering peer: the hop count. */
  readonly hops: number
  /** Why it ended. */
  readonly reason: "converged" | "exhausted" | "stopped"
}

/** Parameters of the lookup algorithm. */
export interface LookupParams {
  /** Replication parameter `k`: how many closest peers the result holds. */
  readonly k: number
  /** Maximum requests in flight (`alpha`). */
  readonly alpha: number
  /** How many of the closest peers must have answered to end the search phase (`beta`). */
  readonly beta: number
}

/** A single lookup to run. */
export interface LookupSpec<A, E> extends LookupParams {
  /** The point in the keyspace being searched for. */
  readonly target: KadId
  /** Starting candidates (usually the routing table's closest peers). */
  readonly seeds: ReadonlyArray<PeerInfo>
  /** This node; never queried nor returned. */
  readonly self: PeerId
  /** Asks one peer. Failures mark the peer unreachable and the lookup goes on. */
  readonly query: (peer: PeerInfo) => Effect.Effect<QueryOutcome<A>, E>
  /** Ends the lookup early (a quorum reached, the target found) when it returns true. */
  readonly stopWhen?: (event: LookupEvent<A, E>) => boolean
  /** Skip the follow-up phase (value and provider searches do not need it). */
  readonly skipFollowUp?: boolean
}

enum State {
  Heard = 0,
  Waiting = 1,
  Queried = 2,
  Unreachable = 3
}

interface Candidate {
  readonly info: PeerInfo
  readonly kadId: KadId
  readonly hop: number
  state: State
}

type Completion<A, E> =
  | { readonly ok: true; readonly candidate: Candidate; readonly outcome: QueryOutcome<A>; readonly elapsed: number }
  | { readonly ok: false; readonly candidate: Candidate; readonly error: E }

/**
 * The candidate set: every peer heard of, sorted by distance to the target.
 * Sizes stay in the hundreds, so a sorted array with binary insertion beats
 * any tree.
 */
class CandidateSet {
  private readonly byId = new Map<string, Candidate>()
  readonly sorted: Array<Candidate> = []

  constructor(
    private readonly target: KadId,
    private readonly selfKey: string
  ) {}

  add(info: PeerInfo, hop: number): boolean {
    const key = info.id.toString()
    if (key === this.selfKey || this.byId.has(key)) return false
    const candidate: Candidate = { info, kadId: kadIdOfPeer(info.id), hop, state: State.Heard }
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

  /** The closest `n` peers that have not failed. */
  closestLive(n: number): Array<Candidate> {
    const out: Array<Candidate> = []
    for (const c of this.sorted) {
      if (c.state === State.Unreachable) continue
      out.push(c)
      if (out.length === n) break
    }
    return out
  }

  /** Closest peers not yet asked, up to `n`, optionally only among the `within` closest live peers. */
  nextToQuery(n: number, within = Number.POSITIVE_INFINITY): Array<Candidate> {
    const out: Array<Candidate> = []
    let live = 0
    for (const c of this.sorted) {
      if (c.state === State.Unreachable) continue
      if (live++ >= within) break
      if (c.state === State.Heard) {
        out.push(c)
        if (out.length === n) break
      }
    }
    return out
  }
}

/**
 * Runs a lookup to its end and returns its result; `observe` sees every
 * event as it happens.
 *
 * @example
 * ```ts
 * const result = yield* runLookup({ target, seeds, self, k: 20, alpha: 10, beta: 3, query })
 * result.closest // the 20 closest peers that answered
 * ```
 */
export const runLookup = <A, E>(
  spec: LookupSpec<A, E>,
  observe: (event: LookupEvent<A, E>) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<LookupResult> =>
  Effect.scoped(
    Effect.gen(function* () {
      const candidates = new CandidateSet(spec.target, spec.self.toString())
      for (const seed of spec.seeds) candidates.add(seed, 0)

      const fibers = yield* FiberSet.make<void, never>()
      const completions = yield* Queue.unbounded<Completion<A, E>>()
      const alpha = Math.max(1, spec.alpha)
      const beta = Math.max(1, Math.min(spec.beta, spec.k))
      let inFlight = 0
      let queried = 0
      let responded = 0
      let failed = 0
      let hops = 0
      let stopped = false

      const emit = (event: LookupEvent<A, E>): Effect.Effect<void> =>
        Effect.zipRight(
          observe(event),
          Effect.sync(() => {
            if (!stopped && spec.stopWhen?.(event) === true) stopped = true
          })
        )

      const dispatch = (candidate: Candidate) =>
        Effect.gen(function* () {
          candidate.state = State.Waiting
          inFlight++
          queried++
          yield* emit({ _tag: "QuerySent", peer: candidate.info.id, hop: candidate.hop })
          const started = Date.now()
          yield* FiberSet.run(
            fibers,
            spec.query(candidate.info).pipe(
              Effect.matchEffect({
                onSuccess: (outcome) =>
                  Queue.offer(completions, { ok: true, candidate, outcome, elapsed: Date.now() - started }),
                onFailure: (error) => Queue.offer(completions, { ok: false, candidate, error })
              }),
              Effect.asVoid
            )
          )
        })

      const settle = (completion: Completion<A, E>) =>
        Effect.gen(function* () {
          inFlight--
          const { candidate } = completion
          if (completion.ok) {
            candidate.state = State.Queried
            responded++
            if (candidate.hop > hops) hops = candidate.hop
            for (const peer of completion.outcome.closer) candidates.add(peer, candidate.hop + 1)
            yield* emit({
              _tag: "PeerResponded",
              peer: candidate.info.id,
              hop: candidate.hop,
              outcome: completion.outcome,
              elapsedMillis: completion.elapsed
            })
          } else {
            candidate.state = State.Unreachable
            failed++
            yield* emit({ _tag: "PeerFailed", peer: candidate.info.id, error: completion.error })
          }
        })

      /** go's termination: the beta closest live peers have all answered. */
      const searchConverged = () => {
        const closest = candidates.closestLive(beta)
        return closest.length > 0 && closest.every((c) => c.state === State.Queried)
      }

      // search phase
      let converged = false
      for (;;) {
        if (stopped) break
        if (searchConverged()) {
          converged = true
          break
        }
        // As go does, only the k closest live candidates are asked. A farther
        // one comes into reach when a nearer one fails; asking it sooner
        // mostly spends requests on answers that closer peers already gave.
        const next = candidates.nextToQuery(alpha - inFlight, spec.k)
        for (const candidate of next) yield* dispatch(candidate)
        if (inFlight === 0) break
        yield* settle(yield* Queue.take(completions))
      }

      // follow-up phase: make sure the k closest live peers have answered
      if (!stopped && spec.skipFollowUp !== true) {
        for (;;) {
          if (stopped) break
          const next = candidates.nextToQuery(alpha - inFlight, spec.k)
          for (const candidate of next) yield* dispatch(candidate)
          if (inFlight === 0) break
          yield* settle(yield* Queue.take(completions))
        }
      }

      // queries still in flight after a stop are not needed any more
      yield* FiberSet.clear(fibers)

      const closest = candidates.sorted
        .filter((c) => c.state === State.Queried)
        .slice(0, spec.k)
        .map((c) => c.info)
      const result: LookupResult = {
        closest,
        responded,
        queried,
        failed,
        hops,
        reason: stopped ? "stopped" : converged ? "converged" : "exhausted"
      }
      yield* observe({ _tag: "Finished", result })
      return result
    })
  )

/**
 * The same lookup as a stream of progress events, ending with `Finished`.
 * Interrupting the stream (for example with `Stream.take` or a timeout)
 * cancels every request still in flight.
 */
export const lookupStream = <A, E>(spec: LookupSpec<A, E>): Stream.Stream<LookupEvent<A, E>> =>
  Stream.asyncPush<LookupEvent<A, E>>(
    (emit) =>
      Effect.forkScoped(
        runLookup(spec, (event) => Effect.sync(() => void emit.single(event))).pipe(
          Effect.ensuring(Effect.sync(() => emit.end()))
        )
      ),
    { bufferSize: "unbounded" }
  )
