/**
 * Peer routing: the lookups every DHT operation starts with, with the
 * bookkeeping a lookup implies (routing table usefulness and eviction,
 * peer store addresses, network size samples), plus the `closerPeers`
 * every server-side response carries.
 *
 * @module
 */

import {
  type AddressFilter,
  commonPrefixLength,
  type KadId,
  kadIdOfKey,
  keepAllAddresses,
  type Message,
  MessageType,
  Network,
  type PeerInfo,
  type RetryPolicy,
  withRetry
} from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ExpiringPeers } from "../internal/peer-routing/expiring-peers.js"
import { dropLoopback, responsePeers } from "../internal/peer-routing/response-peers.js"
import { defaultQueryDeadline, type QueryDeadlineConfig, ResponseTimes } from "../lookup/deadline.js"
import {
  type LookupEvent,
  type LookupResult,
  type LookupSpec,
  lookupStream,
  type QueryOutcome,
  type QueryProgress,
  runLookup
} from "../lookup/lookup.js"
import { NetworkSizeEstimator } from "../netsize/netsize.js"
import { RoutingTable } from "../routing-table/routing-table.js"

/** Settings of {@link PeerRouting}. */
export interface PeerRoutingConfig {
  /** Replication parameter and bucket size `k`. */
  readonly k: number
  /** Lookup concurrency `alpha`. */
  readonly alpha: number
  /** Lookup resiliency `beta`. */
  readonly beta: number
  /** Deadline of a single request: the longest a lookup query may run, dial included. */
  readonly requestTimeoutMillis: number
  /** Retries of a direct request to one peer (never of a lookup query: the next candidate is the retry). */
  readonly retry: RetryPolicy
  /**
   * When a lookup stops counting on a peer that has not answered
   * (default {@link defaultQueryDeadline}; the ceiling never exceeds the
   * request timeout).
   */
  readonly queryDeadline?: QueryDeadlineConfig
  /**
   * How long a lookup on an empty routing table waits for peers to arrive
   * (identify of fresh connections, the first refresh) before it runs with
   * none (default 5 s; 0 does not wait).
   */
  readonly emptyTableWaitMillis?: number
  /** Leave loopback addresses out of answers to peers that are not themselves on loopback. */
  readonly filterLocalhostInResponses: boolean
  /**
   * Which peers lookups may query (go's `QueryFilter`): a refused peer is
   * neither a seed nor taken from an answer's closer peers. Default: all.
   */
  readonly queryFilter?: (peer: PeerInfo) => boolean
  /**
   * Which addresses are sent in answers and kept from answers (so dialed),
   * except with peers on this machine (reached over loopback), which get
   * and give every address. Default: loopback ones dropped when
   * `filterLocalhostInResponses`, else every address.
   */
  readonly addressFilter?: AddressFilter
}

/** Options of one lookup run through {@link PeerRouting}. */
export interface LookupOptions<A, E> {
  /** Ends the lookup early when it returns true. */
  readonly stopWhen?: (event: LookupEvent<A, E>) => boolean
  /** Skip the follow-up phase that makes sure the k closest peers answered. */
  readonly skipFollowUp?: boolean
}

/** Operations of the {@link PeerRouting} service. */
export interface PeerRoutingShape {
  /**
   * The `k` closest peers to `key` that answered a FIND_NODE lookup,
   * closest first.
   */
  readonly getClosestPeers: (key: Uint8Array) => Effect.Effect<ReadonlyArray<PeerInfo>>
  /**
   * The lookup behind {@link PeerRoutingShape.getClosestPeers}, with its
   * whole result (who answered, who failed); `observe` sees every event.
   */
  readonly closestPeersLookup: (
    key: Uint8Array,
    observe?: (event: LookupEvent<never, unknown>) => Effect.Effect<void>
  ) => Effect.Effect<LookupResult>
  /** The same lookup as a stream of progress events. */
  readonly getClosestPeersStream: (key: Uint8Array) => Stream.Stream<LookupEvent<never, unknown>>
  /**
   * A peer's addresses: from the peer store when known, else by a lookup
   * that stops as soon as some peer reports the target. `None` when nobody
   * knows it.
   */
  readonly findPeer: (peer: PeerId) => Effect.Effect<Option.Option<PeerInfo>>
  /**
   * Runs a lookup for `key` seeded from the routing table with a custom
   * query (GET_VALUE, GET_PROVIDERS), doing the routing-table bookkeeping.
   * `observe` sees every event.
   */
  readonly lookup: <A, E>(
    key: Uint8Array,
    query: (peer: PeerInfo, progress: QueryProgress) => Effect.Effect<QueryOutcome<A>, E>,
    options?: LookupOptions<A, E>,
    observe?: (event: LookupEvent<A, E>) => Effect.Effect<void>
  ) => Effect.Effect<LookupResult>
  /** The FIND_NODE query of lookups for `key`, for callers running their own lookup through {@link lookup}. */
  readonly findNodeQuery: (
    key: Uint8Array
  ) => (peer: PeerInfo, progress: QueryProgress) => Effect.Effect<QueryOutcome<never>, unknown>
  /** Sends a request with the configured timeout and retries. */
  readonly request: (peer: PeerId, message: Message) => Effect.Effect<Message, unknown>
  /**
   * One lookup query: a single attempt (a pooled stream the remote closed is
   * reopened once), bounded by the request timeout, telling `progress` when
   * the request is on the wire. A peer that answers is offered to the table.
   */
  readonly query: (peer: PeerId, message: Message, progress: QueryProgress) => Effect.Effect<Message, unknown>
  /**
   * Waits, at most the configured time, until the routing table holds a
   * peer; answers whether it does. Without any connection there is nothing
   * to wait for. Lookups call it on an empty table.
   */
  readonly awaitPeers: Effect.Effect<boolean>
  /** The response deadline lookups currently give a peer, from recent answers. */
  readonly responseDeadlineMillis: Effect.Effect<number>
  /**
   * Waits until none of this node's requests to `peer` is in flight (at
   * once when there is none). A peer that is answering one of our queries
   * needs no separate liveness probe: its answer speaks for it.
   */
  readonly requestsSettled: (peer: PeerId) => Effect.Effect<void>
  /**
   * The `closerPeers` of a response to `requester` about `key`: the `k`
   * closest routing-table peers with their addresses, never the requester.
   */
  readonly closerPeersFor: (key: Uint8Array, requester: PeerId) => Effect.Effect<Array<Message.Peer>>
  /** Peers with addresses as they should be sent to `requester` (the address filter applied). */
  readonly peersForResponse: (peers: ReadonlyArray<PeerInfo>, requester: PeerId) => Effect.Effect<Array<Message.Peer>>
  /**
   * The `closerPeers` of `responder`'s answer, with the addresses the
   * address filter keeps remembered in the peer store. A peer given only
   * with addresses the filter drops is left out: nothing of it could be
   * dialed.
   */
  readonly closerPeersFrom: (responder: PeerId, response: Message) => Effect.Effect<Array<PeerInfo>>
  /**
   * Peers `responder` described (a GET_PROVIDERS answer's providers), in
   * order, each with the addresses the address filter keeps. Unlike
   * `closerPeersFrom`, no peer is dropped and nothing is remembered.
   */
  readonly filterAddressesFrom: (responder: PeerId, peers: ReadonlyArray<PeerInfo>) => Effect.Effect<Array<PeerInfo>>
}

/** Peer routing over the node's {@link Network} and {@link RoutingTable}. */
export class PeerRouting extends Context.Tag("@effect-kad/routing/PeerRouting")<PeerRouting, PeerRoutingShape>() {
  /**
   * Builds the service from the network, routing table and network size
   * estimator in context; queries that outlive their lookup finish within
   * the scope.
   */
  static readonly make = (config: PeerRoutingConfig) => makePeerRouting(config)

  /** The service as a layer. */
  static readonly layer = (config: PeerRoutingConfig) => Layer.scoped(PeerRouting, makePeerRouting(config))
}

/** Lookups are seeded with this many times `k` of the table's closest peers (see `nearestInfos`). */
const SEED_DEPTH = 2

const makePeerRouting = (config: PeerRoutingConfig) =>
  Effect.gen(function* () {
    const network = yield* Network
    const table = yield* RoutingTable
    const estimator = yield* Effect.serviceOption(NetworkSizeEstimator)
    const self = network.self
    const scope: Scope.Scope = yield* Effect.scope
    const deadlineConfig = config.queryDeadline ?? defaultQueryDeadline
    const responseTimes = new ResponseTimes({
      ...deadlineConfig,
      ceilingMillis: Math.min(deadlineConfig.ceilingMillis, config.requestTimeoutMillis),
      floorMillis: Math.min(deadlineConfig.floorMillis, config.requestTimeoutMillis)
    })
    const emptyTableWaitMillis = config.emptyTableWaitMillis ?? 5_000
    const queryFilter = config.queryFilter
    const queryable = (peers: ReadonlyArray<PeerInfo>): ReadonlyArray<PeerInfo> =>
      queryFilter === undefined ? peers : peers.filter(queryFilter)
    /** The query with refused peers dropped from its answers' closer peers. */
    const filteredQuery = <A, E>(
      query: (peer: PeerInfo, progress: QueryProgress) => Effect.Effect<QueryOutcome<A>, E>
    ): ((peer: PeerInfo, progress: QueryProgress) => Effect.Effect<QueryOutcome<A>, E>) =>
      queryFilter === undefined
        ? query
        : (peer, progress) =>
            Effect.map(query(peer, progress), (outcome) => ({ ...outcome, closer: outcome.closer.filter(queryFilter) }))
    const addressFilter = config.addressFilter ?? (config.filterLocalhostInResponses ? dropLoopback : keepAllAddresses)
    const failedRecently = new ExpiringPeers()
    /**
     * Peers whose query is past its deadline and still running, in any
     * lookup. Another lookup asks them too but does not wait for them, so
     * a burst of lookups pays each silent peer's deadline once, not once
     * per lookup. The running query settles it either way: an answer
     * clears it, a failure moves it to `failedRecently`; the time to live
     * covers a query that ends unseen.
     */
    const overdueNow = new ExpiringPeers(2 * config.requestTimeoutMillis)

    /** Requests in flight per peer, and who waits for them to end. */
    const inFlight = new Map<string, { count: number; readonly settled: Deferred.Deferred<void> }>()

    /** Runs `exchange` counted among the requests in flight to `peer`; an answer admits the peer to the table. */
    const tracked = <E>(peer: PeerId, exchange: Effect.Effect<Message, E>): Effect.Effect<Message, E> => {
      const key = peer.toString()
      return Effect.acquireUseRelease(
        Effect.sync(() => {
          const entry = inFlight.get(key)
          if (entry !== undefined) entry.count++
          else inFlight.set(key, { count: 1, settled: Deferred.unsafeMake(FiberId.none) })
        }),
        () =>
          exchange.pipe(
            // a peer that answers serves the DHT: offered to the table before
            // anyone waiting on requestsSettled looks for it there
            Effect.tap(() =>
              Effect.flatMap(network.addressesOf(peer), (multiaddrs) =>
                table.tryAdd({ id: peer, multiaddrs }, { queryPeer: true })
              )
            )
          ),
        () =>
          Effect.suspend(() => {
            const entry = inFlight.get(key)
            if (entry === undefined || --entry.count > 0) return Effect.void
            inFlight.delete(key)
            return Deferred.succeed(entry.settled, undefined)
          })
      )
    }

    const request = (peer: PeerId, message: Message) =>
      tracked(
        peer,
        withRetry(network.request(peer, message, { timeoutMillis: config.requestTimeoutMillis }), config.retry)
      )

    const query: PeerRoutingShape["query"] = (peer, message, progress) =>
      Effect.suspend(() => {
        let sentAt: number | undefined
        const onSent = () => {
          sentAt = Date.now()
          progress.sent()
        }
        return tracked(
          peer,
          network.request(peer, message, { timeoutMillis: config.requestTimeoutMillis, onSent }).pipe(
            // the deadline follows how long answers take once asked, not how long dials take
            Effect.tap(() => Effect.sync(() => sentAt !== undefined && responseTimes.record(Date.now() - sentAt)))
          )
        )
      })

    const awaitPeers: PeerRoutingShape["awaitPeers"] = Effect.gen(function* () {
      if ((yield* table.size) > 0) return true
      // only connected peers (identify in flight, admission checks) can fill the table soon
      if (emptyTableWaitMillis <= 0 || (yield* network.connectedPeers).length === 0) return false
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const events = yield* table.subscribe
          // the table may have filled between the size check and the subscription
          if ((yield* table.size) > 0) return true
          return yield* events.pipe(
            Stream.filter((event) => event._tag === "PeerAdded"),
            Stream.take(1),
            Stream.runDrain,
            Effect.as(true),
            Effect.timeoutTo({
              duration: Duration.millis(emptyTableWaitMillis),
              onSuccess: (x) => x,
              onTimeout: () => false
            })
          )
        })
      )
    })

    const requestsSettled = (peer: PeerId): Effect.Effect<void> =>
      Effect.suspend(() => {
        const entry = inFlight.get(peer.toString())
        return entry === undefined ? Effect.void : Deferred.await(entry.settled)
      })

    /** Book-keeping shared by every lookup: a peer that answered is a live DHT server, one that failed is evicted. */
    const account = <A, E>(event: LookupEvent<A, E>): Effect.Effect<void> => {
      switch (event._tag) {
        case "PeerResponded":
          failedRecently.delete(event.peer)
          overdueNow.delete(event.peer)
          return Effect.all(
            [
              table.markSuccessfulOutboundQuery(event.peer),
              table.recordLatency(event.peer, event.elapsedMillis),
              Effect.flatMap(network.addressesOf(event.peer), (multiaddrs) =>
                table.tryAdd({ id: event.peer, multiaddrs }, { queryPeer: true })
              ),
              event.outcome.closer.length > 0 ? table.markUseful(event.peer) : Effect.void
            ],
            { discard: true }
          )
        case "PeerFailed":
          overdueNow.delete(event.peer)
          failedRecently.add(event.peer)
          return Effect.asVoid(table.remove(event.peer))
        case "PeerOverdue":
          overdueNow.add(event.peer)
          return Effect.void
        default:
          return Effect.void
      }
    }

    /**
     * Seeds reach past the k closest: the lookup asks only the k closest
     * peers it counts on, so the extra ones cost nothing until some of the
     * nearer ones fail or fall silent. Then they stand in at once. Without
     * them, the live peers just beyond a silent group are found only if an
     * answer names them, and answers keep naming the silent peers until
     * their tables notice.
     */
    const nearestInfos = (target: KadId) =>
      Effect.map(table.nearest(target, config.k * SEED_DEPTH), (entries) =>
        queryable(entries.map((entry): PeerInfo => ({ id: entry.id, multiaddrs: entry.multiaddrs })))
      )

    /** The table's closest peers; an empty table is given a bounded time to fill first. */
    const seedsFor = (target: KadId) =>
      Effect.flatMap(nearestInfos(target), (seeds) =>
        seeds.length > 0 ? Effect.succeed(seeds) : Effect.zipRight(awaitPeers, nearestInfos(target))
      )

    /** What every lookup of this node shares: parameters, deadlines, and where overdue queries finish. */
    const lookupSettings = <A, E>(): Pick<
      LookupSpec<A, E>,
      "k" | "alpha" | "beta" | "deadline" | "unreliable" | "linger" | "self"
    > => ({
      self,
      k: config.k,
      alpha: config.alpha,
      beta: config.beta,
      deadline: () => responseTimes.deadline(),
      unreliable: (peer) => failedRecently.has(peer) || overdueNow.has(peer),
      linger: { scope, afterEnd: account }
    })

    const lookup: PeerRoutingShape["lookup"] = (key, query, options = {}, observe) =>
      Effect.gen(function* () {
        const target = kadIdOfKey(key)
        const seeds = yield* seedsFor(target)
        return yield* runLookup(
          {
            ...lookupSettings(),
            target,
            seeds,
            query: filteredQuery(query),
            stopWhen: options.stopWhen,
            skipFollowUp: options.skipFollowUp
          },
          (event) => Effect.zipRight(account(event), observe === undefined ? Effect.void : observe(event))
        )
      })

    const findNode = (key: Uint8Array) => (peer: PeerInfo, progress: QueryProgress) =>
      Effect.flatMap(
        query(
          peer.id,
          {
            type: MessageType.FIND_NODE,
            key: key as Uint8Array<ArrayBuffer>,
            closerPeers: [],
            providerPeers: []
          },
          progress
        ),
        (response) => Effect.map(closerPeersFrom(peer.id, response), (closer): QueryOutcome<never> => ({ closer }))
      )

    const trackSize = (key: Uint8Array, result: LookupResult) =>
      Option.match(estimator, {
        onNone: () => Effect.void,
        onSome: (est) =>
          result.closest.length === config.k
            ? Effect.ignore(
                est.track(
                  kadIdOfKey(key),
                  result.closest.map((p) => p.id)
                )
              )
            : Effect.void
      })

    /** What a finished FIND_NODE lookup teaches the node, however it was run: the network size, a refreshed bucket. */
    const afterClosestPeers = (key: Uint8Array, result: LookupResult) =>
      Effect.zipRight(
        trackSize(key, result),
        result.reason === "converged"
          ? // a completed lookup refreshed the bucket its target falls in, as go counts it
            table.markBucketRefreshed(Math.min(255, commonPrefixLength(table.localKadId, kadIdOfKey(key))))
          : Effect.void
      )

    const closestPeersLookup: PeerRoutingShape["closestPeersLookup"] = (key, observe) =>
      Effect.gen(function* () {
        const result = yield* lookup(key, findNode(key), {}, observe)
        yield* afterClosestPeers(key, result)
        return result
      })

    const getClosestPeers: PeerRoutingShape["getClosestPeers"] = (key) =>
      Effect.map(closestPeersLookup(key), (result) => result.closest).pipe(
        Effect.withSpan("PeerRouting.getClosestPeers")
      )

    const getClosestPeersStream: PeerRoutingShape["getClosestPeersStream"] = (key) =>
      Stream.unwrap(
        Effect.map(seedsFor(kadIdOfKey(key)), (seeds) =>
          lookupStream({
            ...lookupSettings<never, unknown>(),
            target: kadIdOfKey(key),
            seeds,
            query: filteredQuery(findNode(key))
          }).pipe(
            Stream.tap((event) => (event._tag === "Finished" ? afterClosestPeers(key, event.result) : account(event)))
          )
        )
      )

    const findPeer: PeerRoutingShape["findPeer"] = (peer) =>
      Effect.gen(function* () {
        if (peer.equals(self)) return Option.some(yield* network.selfInfo)
        const known = yield* network.addressesOf(peer)
        if (known.length > 0) return Option.some<PeerInfo>({ id: peer, multiaddrs: known })
        let found: PeerInfo | undefined
        const key = peer.toMultihash().bytes
        yield* lookup(key, findNode(key), {
          stopWhen: (event) => {
            if (event._tag !== "PeerResponded") return false
            if (event.peer.equals(peer)) {
              found = { id: peer, multiaddrs: [] }
              return true
            }
            const hit = event.outcome.closer.find((p) => p.id.equals(peer) && p.multiaddrs.length > 0)
            if (hit !== undefined) found = hit
            return hit !== undefined
          }
        })
        if (found === undefined) return Option.none()
        if (found.multiaddrs.length === 0) {
          const addrs = yield* network.addressesOf(peer)
          found = { id: peer, multiaddrs: addrs }
        }
        return Option.some(found)
      }).pipe(Effect.withSpan("PeerRouting.findPeer"))

    // the peer lists of messages, read and written through the address filter
    const peerLists = responsePeers(network, table, config.k, addressFilter)
    const { closerPeersFrom } = peerLists

    return {
      getClosestPeers,
      closestPeersLookup,
      getClosestPeersStream,
      findPeer,
      lookup,
      findNodeQuery: findNode,
      request,
      query,
      awaitPeers,
      responseDeadlineMillis: Effect.sync(() => responseTimes.deadlineMillis()),
      requestsSettled,
      ...peerLists
    } satisfies PeerRoutingShape
  })
