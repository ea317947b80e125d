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
 * Silent and slow peers never stall it: each query has a deadline (see
 * `deadline.ts`), and a peer past it stops holding a slot and stops
 * blocking termination while its request runs on; a late answer still
 * counts. Earlier, a query slower than most becomes a suspect: it gives its
 * slot back and the next candidate is asked beside it, while termination
 * still waits for it until its deadline. Requests are not retried inside a lookup: asking the next
 * candidate is the retry.
 *
 * Callers observe progress as a stream of events, can stop early with a
 * predicate (a value quorum, a found peer), and cancel by interrupting.
 *
 * @module
 */

import type { KadId, PeerInfo } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Candidate, CandidateSet, CandidateState } from "./candidates.js"
import type { QueryDeadline } from "./deadline.js"

/** What one peer answered to a lookup query. */
export interface QueryOutcome<A> {
  /** Peers the responder knows closer to the target. */
  readonly closer: ReadonlyArray<PeerInfo>
  /** Operation-specific payload (a record, providers); absent for plain FIND_NODE. */
  readonly payload?: A
}

/** What a query tells the engine while it runs. */
export interface QueryProgress {
  /**
   * The request has been written: the stream is open, so the dial deadline
   * no longer applies and the response deadline starts. A query that never
   * calls it runs under the response deadline from the start.
   */
  readonly sent: () => void
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
      /** Whether the answer came after the peer's deadline. */
      readonly late: boolean
    }
  | { readonly _tag: "PeerFailed"; readonly peer: PeerId; readonly error: E }
  /** The peer ran past its deadline: the lookup goes on without it, and still takes its answer. */
  | { readonly _tag: "PeerOverdue"; readonly peer: PeerId; readonly waitedMillis: number }
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
  /** Number of peers that ran past their deadline (some may have answered late). */
  readonly overdue: number
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
  readonly query: (peer: PeerInfo, progress: QueryProgress) => Effect.Effect<QueryOutcome<A>, E>
  /** Ends the lookup early (a quorum reached, the target found) when it returns true. */
  readonly stopWhen?: (event: LookupEvent<A, E>) => boolean
  /** Skip the follow-up phase (value and provider searches do not need it). */
  readonly skipFollowUp?: boolean
  /**
   * Peers known to have failed recently, or running past their deadline in
   * another lookup right now. They are still asked (they may be back), but
   * as if already past their deadline: they hold no slot and never block
   * termination, so lookups do not wait on the same silent peer twice.
   * Their answer counts as any late answer does.
   */
  readonly unreliable?: (peer: PeerId) => boolean
  /** Per-query deadlines; without them a query holds its slot until it ends. */
  readonly deadline?: () => QueryDeadline
  /**
   * Where queries still running past their deadline when the lookup ends
   * finish, instead of being interrupted; `afterEnd` sees their outcome
   * (the routing table learns whether the peer is alive). Without it they
   * are interrupted with the lookup.
   */
  readonly linger?: {
    readonly scope: Scope.Scope
    readonly afterEnd: (event: LookupEvent<A, E>) => Effect.Effect<void>
  }
}

type Completion<A, E> =
  | {
      readonly kind: "answered"
      readonly candidate: Candidate
      readonly outcome: QueryOutcome<A>
      readonly elapsed: number
    }
  | { readonly kind: "failed"; readonly candidate: Candidate; readonly error: E }
  | { readonly kind: "overdue"; readonly candidate: Candidate; readonly waited: number }
  | { readonly kind: "suspect"; readonly candidate: Candidate }

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
      const running = new Map<Candidate, Fiber.RuntimeFiber<void, never>>()
      const completions = yield* Queue.unbounded<Completion<A, E>>()
      const alpha = Math.max(1, spec.alpha)
      const beta = Math.max(1, Math.min(spec.beta, spec.k))
      /** Queries holding one of the `alpha` slots. */
      let inFlight = 0
      /** Queries the lookup still waits for: in flight, suspects included. */
      let waiting = 0
      let queried = 0
      let responded = 0
      let failed = 0
      let overdue = 0
      let hops = 0
      let stopped = false
      let ended = false

      const emit = (event: LookupEvent<A, E>): Effect.Effect<void> =>
        Effect.zipRight(
          observe(event),
          Effect.sync(() => {
            if (!stopped && spec.stopWhen?.(event) === true) stopped = true
          })
        )

      /** The soft deadline of one query: offers `overdue` when it passes before the query ends. */
      const deadlineTimer = (candidate: Candidate, sent: Deferred.Deferred<void>, startedAt: number) =>
        Effect.gen(function* () {
          const deadline = spec.deadline?.()
          if (deadline === undefined) return
          const opened = yield* Deferred.await(sent).pipe(Effect.timeout(deadline.dialMillis), Effect.option)
          if (Option.isSome(opened)) {
            const response = deadline.responseMillis()
            const suspect = deadline.suspectMillis?.() ?? response
            if (suspect < response) {
              yield* Effect.sleep(suspect)
              candidate.suspect = true
              yield* Queue.offer(completions, { kind: "suspect", candidate })
              yield* Effect.sleep(response - suspect)
            } else {
              yield* Effect.sleep(response)
            }
          }
          const now = yield* Clock.currentTimeMillis
          candidate.pastDeadline = true
          yield* Queue.offer(completions, { kind: "overdue", candidate, waited: now - startedAt })
        })

      /** Settles a query that outlived the lookup: only `linger.afterEnd` hears of it. */
      const settleAfterEnd = (completion: Completion<A, E>) => {
        const { candidate } = completion
        if (spec.linger === undefined || completion.kind === "overdue" || completion.kind === "suspect") {
          return Effect.void
        }
        return completion.kind === "answered"
          ? spec.linger.afterEnd({
              _tag: "PeerResponded",
              peer: candidate.info.id,
              hop: candidate.hop,
              outcome: completion.outcome,
              elapsedMillis: completion.elapsed,
              late: true
            })
          : spec.linger.afterEnd({ _tag: "PeerFailed", peer: candidate.info.id, error: completion.error })
      }

      const dispatch = (candidate: Candidate) =>
        Effect.gen(function* () {
          candidate.state = CandidateState.Waiting
          candidate.holdsSlot = true
          inFlight++
          waiting++
          queried++
          yield* emit({ _tag: "QuerySent", peer: candidate.info.id, hop: candidate.hop })
          const startedAt = yield* Clock.currentTimeMillis
          const sent = yield* Deferred.make<void>()
          const progress: QueryProgress = { sent: () => Deferred.unsafeDone(sent, Exit.void) }
          const work = Effect.gen(function* () {
            const timer = yield* Effect.fork(deadlineTimer(candidate, sent, startedAt))
            const exit = yield* Effect.either(spec.query(candidate.info, progress))
            yield* Fiber.interrupt(timer)
            const now = yield* Clock.currentTimeMillis
            const completion: Completion<A, E> =
              exit._tag === "Right"
                ? { kind: "answered", candidate, outcome: exit.right, elapsed: now - startedAt }
                : { kind: "failed", candidate, error: exit.left }
            if (ended) yield* settleAfterEnd(completion)
            else yield* Queue.offer(completions, completion)
          }).pipe(Effect.ensuring(Effect.sync(() => running.delete(candidate))))
          const fiber =
            spec.linger === undefined
              ? yield* FiberSet.run(fibers, work)
              : yield* Effect.forkIn(work, spec.linger.scope)
          running.set(candidate, fiber)
          if (spec.unreliable?.(candidate.info.id) === true) {
            candidate.pastDeadline = true
            yield* settle({ kind: "overdue", candidate, waited: 0 })
          }
        })

      const releaseSlot = (candidate: Candidate) => {
        if (!candidate.holdsSlot) return
        candidate.holdsSlot = false
        inFlight--
      }

      const settle = (completion: Completion<A, E>) =>
        Effect.gen(function* () {
          const { candidate } = completion
          if (completion.kind === "suspect") {
            // the next candidate comes into reach (see CandidateSet.nextToQuery); termination still waits
            if (candidate.state === CandidateState.Waiting) releaseSlot(candidate)
            return
          }
          if (completion.kind === "overdue") {
            if (candidate.state !== CandidateState.Waiting) return
            candidate.state = CandidateState.Overdue
            releaseSlot(candidate)
            waiting--
            overdue++
            return yield* emit({ _tag: "PeerOverdue", peer: candidate.info.id, waitedMillis: completion.waited })
          }
          const late = candidate.state === CandidateState.Overdue
          // an overdue query stopped being waited for already
          if (!late) waiting--
          releaseSlot(candidate)
          if (completion.kind === "answered") {
            candidate.state = CandidateState.Queried
            responded++
            if (candidate.hop > hops) hops = candidate.hop
            for (const peer of completion.outcome.closer) candidates.add(peer, candidate.hop + 1)
            yield* emit({
              _tag: "PeerResponded",
              peer: candidate.info.id,
              hop: candidate.hop,
              outcome: completion.outcome,
              elapsedMillis: completion.elapsed,
              late
            })
          } else {
            candidate.state = CandidateState.Unreachable
            failed++
            yield* emit({ _tag: "PeerFailed", peer: candidate.info.id, error: completion.error })
          }
        })

      /**
       * Queries still in flight are not needed any more. Overdue ones run on
       * where the caller asked, so the routing table hears how they end.
       * Also run when the lookup is interrupted, since lingering queries live
       * outside its scope.
       */
      const stopQueries = Effect.suspend(() => {
        ended = true
        // every overdue candidate had `pastDeadline` set first, whether its timer or `unreliable` made it so
        const stale = [...running].filter(([candidate]) => spec.linger === undefined || !candidate.pastDeadline)
        return Effect.zipRight(
          Effect.forEach(stale, ([, fiber]) => Fiber.interrupt(fiber), { discard: true }),
          FiberSet.clear(fibers)
        )
      })
      yield* Effect.addFinalizer(() => stopQueries)

      /** go's termination: the beta closest live peers have all answered. */
      const searchConverged = () => {
        const closest = candidates.closestCounted(beta)
        return closest.length > 0 && closest.every((c) => c.state === CandidateState.Queried)
      }

      /**
       * Whether to wait for overdue peers when nothing else is left: only
       * while nobody at all has answered, so a network slower than the
       * deadline still yields a result.
       */
      const waitForOverdue = () => responded === 0 && candidates.inState(CandidateState.Overdue).length > 0

      /** One round: fill the free slots, then settle one completion; false when there is nothing to wait for. */
      const step = Effect.gen(function* () {
        // As go does, only the k closest live candidates are asked. A farther
        // one comes into reach when a nearer one fails or runs overdue; asking
        // it sooner mostly spends requests on answers closer peers already gave.
        // A peer known to have failed is dispatched straight to overdue and
        // frees its slot at once, so fill the slots until nothing is left.
        for (;;) {
          const next = candidates.nextToQuery(alpha - inFlight, spec.k)
          if (next.length === 0) break
          for (const candidate of next) yield* dispatch(candidate)
        }
        if (waiting === 0 && !waitForOverdue()) return false
        yield* settle(yield* Queue.take(completions))
        return true
      })

      // search phase
      let converged = false
      for (;;) {
        if (stopped) break
        if (searchConverged()) {
          converged = true
          break
        }
        if (!(yield* step)) break
      }

      // follow-up phase: make sure the k closest live peers have answered
      if (!stopped && spec.skipFollowUp !== true) {
        for (;;) {
          if (stopped) break
          if (!(yield* step)) break
        }
      }

      yield* stopQueries

      const closest = candidates.sorted
        .filter((c) => c.state === CandidateState.Queried)
        .slice(0, spec.k)
        .map((c) => c.info)
      const result: LookupResult = {
        closest,
        responded,
        queried,
        failed,
        overdue,
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
