/**
 * The {@link Network} service over a js-libp2p host: a full `Libp2p` node or
 * the `components` a js-libp2p service is constructed with.
 *
 * Outbound, a request or a one-way message (ADD_PROVIDER) takes an idle
 * stream to the peer from a small pool, as the spec allows, or opens one
 * with the DHT protocol, and writes one varint-framed message; a request
 * then reads exactly one framed response. The stream goes back to the pool
 * for the next message to that peer. Inbound,
 * `serve` registers the protocol on the host's registrar, which is also what
 * makes identify advertise it (server mode), and answers every framed
 * request arriving on a stream until the remote closes it or it idles out.
 * A stream that misbehaves (oversized frame, undecodable bytes, reset) is
 * reset and never reused; the process never crashes on remote input.
 *
 * @example
 * ```ts
 * import { Libp2pNetwork, Network } from "@effect-kad/core"
 *
 * const node = await createLibp2p({ ... })
 * const program = Effect.gen(function* () {
 *   const network = yield* Network
 *   yield* network.serve(handler)
 *   const response = yield* network.request(peer, { type: MessageType.PING })
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(Libp2pNetwork.layer(node)), Effect.scoped))
 * ```
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as EffectStream from "effect/Stream"
import type { InvalidOptionError } from "../errors.js"
import { listenToHost } from "../internal/libp2p/events.js"
import { hostQueries, type Libp2pHostLike, toHostOps } from "../internal/libp2p/host.js"
import { type Libp2pNetworkOptions, resolveOptions } from "../internal/libp2p/options.js"
import { makeSender } from "../internal/libp2p/sender.js"
import { makeServe } from "../internal/libp2p/server.js"
import { StreamPool } from "../internal/libp2p/stream-pool.js"
import { Network, type NetworkShape, type PeerEvent } from "./network.js"

export type {
  HostEvents,
  HostEventTarget,
  Libp2pComponentsLike,
  Libp2pHostLike,
  Libp2pNodeLike,
  PeerStoreLike
} from "../internal/libp2p/host.js"
export { defaults, type Libp2pNetworkOptions } from "../internal/libp2p/options.js"

/**
 * Builds the libp2p {@link Network} on `host`, for the lifetime of the scope:
 * host listeners are removed, idle streams closed and any `serve`
 * registration undone when it closes. The host itself is not stopped.
 *
 * Errors: a failed dial or a stream closed or reset before the response is
 * a `TransientNetworkError` (after one retry on a fresh stream when a reused
 * one turns out to be dead); an oversized or undecodable response, or a peer
 * that does not speak the protocol, is a `ProtocolError`; the deadline is a
 * `TimeoutError`. `serve` dies if another handler already owns the protocol
 * on this host, since two DHTs on one protocol is a wiring mistake.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const network = yield* Libp2pNetwork.make(node, { requestTimeoutMillis: 5_000 })
 *   yield* network.serve(handler)
 *   return yield* network.request(peer, { type: MessageType.PING, closerPeers: [], providerPeers: [] })
 * }).pipe(Effect.scoped)
 * ```
 */
export const make = (
  host: Libp2pHostLike,
  options: Libp2pNetworkOptions = {}
): Effect.Effect<NetworkShape, InvalidOptionError, Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* resolveOptions(options)
    const ops = toHostOps(host)
    const protocol = config.protocol

    const events = yield* Effect.acquireRelease(PubSub.sliding<PeerEvent>(config.eventBufferSize), PubSub.shutdown)
    const pool = new StreamPool(config.maxIdleStreamsPerPeer, config.outboundIdleTimeoutMillis)
    yield* Effect.addFinalizer(() => Effect.sync(() => pool.close()))

    yield* listenToHost(ops, protocol, events, pool)

    const { request, send, withDeadline } = makeSender(ops, config, pool)
    const serve = makeServe(ops, config)
    const { dial, ...queries } = hostQueries(ops, protocol)

    const connect: NetworkShape["connect"] = (peer, requestOptions) =>
      queries
        .rememberAddresses(peer)
        .pipe(Effect.zipRight(dial(peer.id)), (effect) =>
          withDeadline(effect, `connect to ${peer.id.toString()}`, requestOptions)
        )

    return {
      self: ops.peerId,
      protocol,
      request,
      send,
      serve,
      ...queries,
      connect,
      events: EffectStream.fromPubSub(events)
    } satisfies NetworkShape
  })

/**
 * The {@link Network} layer over a libp2p host, scoped to the layer's lifetime.
 *
 * @example
 * ```ts
 * const NetworkLive = Libp2pNetwork.layer(node, { requestTimeoutMillis: 5_000 })
 * ```
 */
export const layer = (
  host: Libp2pHostLike,
  options: Libp2pNetworkOptions = {}
): Layer.Layer<Network, InvalidOptionError> => Layer.scoped(Network, make(host, options))
