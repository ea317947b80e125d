/**
 * Classic and optimistic provide: how an ADD_PROVIDER reaches the peers
 * closest to a key.
 *
 * Classic provide finds the `k` closest peers with a complete lookup and
 * then announces to all of them, waiting for every send. Optimistic provide
 * (after go-libp2p-kad-dht) uses the network size estimate to tell, while
 * the lookup is still running, which peers are almost certainly among the
 * `k` closest: those get their ADD_PROVIDER at once, the lookup ends as
 * soon as the set of peers found is as close as the estimate says the true
 * set is, and the caller is released when most announcements are done,
 * leaving the slow tail to finish in the background.
 *
 * @internal
 * @module
 */
import {
  kadIdOfKey,
  kadIdOfPeer,
  type Message,
  MessageType,
  type NetworkShape,
  normalizedDistance,
  type PeerInfo,
  peerInfoToWire
} from "@effect-kad/core"
import type { LookupEvent, NetworkSizeEstimatorShape, PeerRoutingShape } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { gammaIncRegInv } from "./gamma.js"

/**
 * How sure optimistic provide wants to be that a single peer found during
 * the lookup belongs to the `k` closest before announcing to it right away
 * (go-libp2p-kad-dht: 0.9).
 */
export const OPTIMISTIC_INDIVIDUAL_CERTAINTY = 0.9

/**
 * Probability that the set threshold is too strict, i.e. that the true `k`
 * closest are farther than it and the lookup runs on without need
 * (go-libp2p-kad-dht: 0.1).
 */
export const OPTIMISTIC_SET_STRICTNESS = 0.1

/**
 * Share of the scheduled ADD_PROVIDER sends that must be done (delivered or
 * failed) before optimistic provide returns (go-libp2p-kad-dht: 0.75, i.e.
 * 15 of 20).
 */
export const OPTIMISTIC_RETURN_RATIO = 0.75

/** Distance thresholds of one optimistic provide. */
export interface OptimisticThresholds {
  /** A peer at a normalised distance up to this is announced to at once. */
  readonly individual: number
  /** The lookup ends when the mean distance of the `k` closest peers known falls below this. */
  readonly set: number
  /** Sends that must be done before returning. */
  readonly returnAfter: number
}

/**
 * The thresholds for replication `k` in a network of `networkSize` peers.
 * In such a network the normalised distance of the i-th closest peer to a
 * key is about Gamma(i, 1) / N, which gives both distance thresholds.
 */
export const optimisticThresholds = (k: number, networkSize: number): OptimisticThresholds => ({
  individual: gammaIncRegInv(k, 1 - OPTIMISTIC_INDIVIDUAL_CERTAINTY) / networkSize,
  set: gammaIncRegInv(k / 2 + 1, 1 - OPTIMISTIC_SET_STRICTNESS) / networkSize,
  returnAfter: Math.ceil(k * OPTIMISTIC_RETURN_RATIO)
})

/** The sends optimistic provide left running, bounded across all provides of a node. */
export interface JobsPool {
  readonly size: number
  inUse: number
}

/** What both provide strategies work with. */
export interface ProvideEnv {
  readonly network: NetworkShape
  readonly routing: PeerRoutingShape
  /** Replication parameter `k`. */
  readonly k: number
  /** The routing table's closest peers to a Kad ID: the lookup's seeds. Empty without a table. */
  readonly seeds: (target: Uint8Array) => Effect.Effect<ReadonlyArray<PeerId>>
  readonly estimator: Option.Option<NetworkSizeEstimatorShape>
  /** Where sends that outlive a provide call run; closed with the service. */
  readonly background: FiberSet.FiberSet<void, never>
  readonly pool: JobsPool
}

/** The ADD_PROVIDER announcing `self` as a provider of `key`. */
export const addProviderMessage = (key: Uint8Array, self: PeerInfo): Message => ({
  type: MessageType.ADD_PROVIDER,
  key: key as Uint8Array<ArrayBuffer>,
  closerPeers: [],
  providerPeers: [peerInfoToWire(self)]
})

/** One ADD_PROVIDER, one way; answers whether it was delivered. */
const sendTo = (env: ProvideEnv, peer: PeerId, message: Message): Effect.Effect<boolean> =>
  env.network.send(peer, message).pipe(
    Effect.as(true),
    Effect.catchAll((error) =>
      Effect.logDebug("ADD_PROVIDER not delivered").pipe(
        Effect.annotateLogs({ peer: peer.toString(), error: error.message }),
        Effect.as(false)
      )
    )
  )

/**
 * Classic provide: the `k` closest peers from a complete lookup, then one
 * ADD_PROVIDER to each, all awaited. Answers how many were delivered.
 */
export const classicProvide = (env: ProvideEnv, key: Uint8Array, message: Message): Effect.Effect<number> =>
  Effect.gen(function* () {
    const closest = yield* env.routing.getClosestPeers(key)
    const delivered = yield* Effect.forEach(closest, (peer) => sendTo(env, peer.id, message), {
      concurrency: "unbounded"
    })
    return delivered.filter(Boolean).length
  })

interface Known {
  readonly id: PeerId
  readonly key: string
  readonly distance: number
  failed: boolean
}

/** Every peer the lookup has heard of, by normalised distance to the target. */
class Nearby {
  private readonly byKey = new Map<string, Known>()
  private readonly sorted: Array<Known> = []

  constructor(
    private readonly target: Uint8Array,
    private readonly selfKey: string
  ) {}

  add(id: PeerId): void {
    const key = id.toString()
    if (key === this.selfKey || this.byKey.has(key)) return
    const known: Known = { id, key, distance: normalizedDistance(kadIdOfPeer(id), this.target), failed: false }
    this.byKey.set(key, known)
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sorted[mid].distance <= known.distance) lo = mid + 1
      else hi = mid
    }
    this.sorted.splice(lo, 0, known)
  }

  fail(id: PeerId): void {
    const known = this.byKey.get(id.toString())
    if (known !== undefined) known.failed = true
  }

  /** The `n` closest peers that have not failed to answer. */
  closest(n: number): Array<Known> {
    const out: Array<Known> = []
    for (const known of this.sorted) {
      if (known.failed) continue
      out.push(known)
      if (out.length === n) break
    }
    return out
  }
}

type SendState = "scheduled" | "delivered" | "failed"

/**
 * Optimistic provide. `None` when there is no usable network size
 * estimate (no estimator, too few measurements, or a network no bigger
 * than `k`, where a complete lookup is cheap anyway): the caller then
 * provides the classic way. Otherwise answers how many ADD_PROVIDER were
 * delivered by the time it returns; the others go on in the background.
 */
export const optimisticProvide = (
  env: ProvideEnv,
  key: Uint8Array,
  message: Message
): Effect.Effect<Option.Option<number>> =>
  Effect.suspend(() => {
    const jobs: Array<Fiber.RuntimeFiber<void, never>> = []
    return Effect.gen(function* () {
      if (Option.isNone(env.estimator)) return Option.none()
      const estimate = yield* Effect.option(env.estimator.value.estimate)
      if (Option.isNone(estimate) || !(estimate.value > env.k)) return Option.none()
      const { k } = env
      const thresholds = optimisticThresholds(k, estimate.value)
      const target = kadIdOfKey(key)
      const nearby = new Nearby(target, env.network.self.toString())
      for (const seed of yield* env.seeds(target)) nearby.add(seed)

      const states = new Map<string, SendState>()
      const done = yield* Queue.unbounded<void>()
      let stop = false

      const schedule = (peer: PeerId) =>
        Effect.gen(function* () {
          const peerKey = peer.toString()
          states.set(peerKey, "scheduled")
          const job = sendTo(env, peer, message).pipe(
            Effect.flatMap((delivered) =>
              Effect.zipRight(
                Effect.sync(() => states.set(peerKey, delivered ? "delivered" : "failed")),
                Queue.offer(done, undefined)
              )
            ),
            Effect.asVoid
          )
          jobs.push(yield* FiberSet.run(env.background, job))
        })

      // After every lookup event: announce to peers already close enough, and
      // decide whether the peers found are close enough to stop looking.
      const evaluate = Effect.gen(function* () {
        const closest = nearby.closest(k)
        for (const known of closest) {
          if (!states.has(known.key) && known.distance <= thresholds.individual) yield* schedule(known.id)
        }
        let pending = 0
        for (const state of states.values()) if (state !== "failed") pending++
        if (pending >= k) {
          stop = true
          return
        }
        // go averages over k slots even while fewer peers are known, counting
        // the missing ones as distance 0; waiting for k real peers avoids
        // stopping on a nearly empty set.
        if (closest.length === k) {
          let sum = 0
          for (const known of closest) sum += known.distance
          if (sum / k < thresholds.set) stop = true
        }
      })

      const observe = (event: LookupEvent<never, unknown>): Effect.Effect<void> => {
        switch (event._tag) {
          case "QuerySent":
            nearby.add(event.peer)
            return evaluate
          case "PeerResponded":
            for (const peer of event.outcome.closer) nearby.add(peer.id)
            return evaluate
          case "PeerFailed":
          // an overdue peer may still answer, but the sets vouch only for peers that will
          case "PeerOverdue":
            nearby.fail(event.peer)
            return evaluate
          case "Finished":
            return Effect.void
        }
      }

      const result = yield* env.routing.lookup(key, env.routing.findNodeQuery(key), { stopWhen: () => stop }, observe)
      if (result.reason !== "stopped" && result.closest.length === k) {
        yield* Effect.ignore(
          env.estimator.value.track(
            target,
            result.closest.map((peer) => peer.id)
          )
        )
      }
      // A complete lookup knows the k closest that answered; a stopped one has
      // only the closest heard of, which is what the thresholds vouched for.
      const finalSet =
        result.reason === "stopped" ? nearby.closest(k).map((known) => known.id) : result.closest.map((p) => p.id)
      for (const peer of finalSet) if (!states.has(peer.toString())) yield* schedule(peer)

      const returnAfter = Math.min(thresholds.returnAfter, jobs.length)
      for (let finished = 0; finished < returnAfter; finished++) yield* Queue.take(done)

      // The rest may finish after we return, as long as the node-wide pool has
      // room for them; otherwise this call waits for them itself.
      for (const job of jobs) {
        if (job.unsafePoll() !== null) continue
        if (env.pool.inUse < env.pool.size) {
          env.pool.inUse++
          yield* FiberSet.run(
            env.background,
            Fiber.await(job).pipe(Effect.asVoid, Effect.ensuring(Effect.sync(() => env.pool.inUse--)))
          )
        } else {
          yield* Fiber.await(job)
        }
      }

      let delivered = 0
      for (const state of states.values()) if (state === "delivered") delivered++
      return Option.some(delivered)
    }).pipe(
      // A caller that gives up before we return takes its sends with it; after
      // we return they belong to the background.
      Effect.onInterrupt(() => Fiber.interruptAll(jobs))
    )
  })
