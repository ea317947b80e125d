/**
 * The {@link Network} service over a js-libp2p host: a full `Libp2p` node or
 * the `components` a js-libp2p service is constructed with.
 *
 * Outbound, a request opens a stream with the DHT protocol (or takes an idle
 * one to the same peer from a small pool, as the spec allows), writes one
 * varint-framed message and reads exactly one framed response. Inbound,
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
import type {
  AbortOptions,
  Connection,
  IdentifyResult,
  NewStreamOptions,
  Peer,
  PeerData,
  PeerId,
  PeerUpdate,
  Stream,
  StreamHandler,
  StreamHandlerOptions
} from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as EffectStream from "effect/Stream"
import {
  type DecodeError,
  InvalidOptionError,
  type MessageTooLargeError,
  ProtocolError,
  TimeoutError,
  TransientNetworkError
} from "../errors.js"
import { DEFAULT_PROTOCOL, decodeMessage, encodeMessage, MAX_MESSAGE_SIZE, type Message } from "../wire/codec.js"
import { frame } from "../wire/frame.js"
import type { PeerInfo } from "../wire/peer.js"
import { FramedStream, StreamAbortedError, StreamFailure } from "./libp2p-framed.js"
import {
  Network,
  type NetworkShape,
  type PeerEvent,
  type RequestError,
  type RequestHandler,
  type RequestOptions
} from "./network.js"

// ---------------------------------------------------------------------------
// The host, structurally
// ---------------------------------------------------------------------------

/** The part of a libp2p peer store the network reads and writes. */
export interface PeerStoreLike {
  get(peerId: PeerId, options?: AbortOptions): Promise<Peer>
  merge(peerId: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer>
}

/** The host events the network listens to. */
export interface HostEvents {
  "peer:identify": CustomEvent<IdentifyResult>
  "peer:update": CustomEvent<PeerUpdate>
  "peer:disconnect": CustomEvent<PeerId>
}

/** An event target that emits {@link HostEvents}: a `Libp2p` node, or `components.events`. */
export interface HostEventTarget {
  addEventListener<K extends keyof HostEvents>(type: K, listener: (event: HostEvents[K]) => void): void
  removeEventListener<K extends keyof HostEvents>(type: K, listener: (event: HostEvents[K]) => void): void
}

/** The subset of a js-libp2p `Libp2p` node the network needs; a real node satisfies it. */
export interface Libp2pNodeLike extends HostEventTarget {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  dialProtocol(peer: PeerId, protocol: string, options?: NewStreamOptions): Promise<Stream>
  dial(peer: PeerId, options?: AbortOptions): Promise<Connection>
  getConnections(peer?: PeerId): Array<Connection>
  getMultiaddrs(): Array<Multiaddr>
}

/**
 * The subset of the `components` a js-libp2p service receives that the
 * network needs, so a DHT packaged as a libp2p service can run on it.
 */
export interface Libp2pComponentsLike {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  readonly registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  readonly connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: NewStreamOptions): Promise<Stream>
    openConnection(peer: PeerId, options?: AbortOptions): Promise<Connection>
    getConnections(peer?: PeerId): Array<Connection>
  }
  readonly addressManager: { getAddresses(): Array<Multiaddr> }
  readonly events: HostEventTarget
}

/** Anything {@link make} can run on: a `Libp2p` node or a service's `components`. */
export type Libp2pHostLike = Libp2pNodeLike | Libp2pComponentsLike

/** Both host shapes reduced to the operations used below. */
interface HostOps {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  readonly events: HostEventTarget
  readonly handle: (protocol: string, handler: StreamHandler, options: StreamHandlerOptions) => Promise<void>
  readonly unhandle: (protocol: string) => Promise<void>
  readonly dialProtocol: (peer: PeerId, protocol: string, options: NewStreamOptions) => Promise<Stream>
  readonly dial: (peer: PeerId, options: AbortOptions) => Promise<Connection>
  readonly getConnections: (peer?: PeerId) => ReadonlyArray<Connection>
  readonly getMultiaddrs: () => ReadonlyArray<Multiaddr>
}

// js-libp2p hands services its components behind a Proxy whose `get` throws for
// a missing component and that has no `has` trap: `"registrar" in components` is
// false and reading `components.dialProtocol` throws, but `in` on a node method is safe.
const isNode = (host: Libp2pHostLike): host is Libp2pNodeLike => "dialProtocol" in host

const toHostOps = (host: Libp2pHostLike): HostOps => {
  if (!isNode(host)) {
    const { registrar, connectionManager, addressManager } = host
    return {
      peerId: host.peerId,
      peerStore: host.peerStore,
      events: host.events,
      handle: (protocol, handler, options) => registrar.handle(protocol, handler, options),
      unhandle: (protocol) => registrar.unhandle(protocol),
      dialProtocol: (peer, protocol, options) => connectionManager.openStream(peer, protocol, options),
      dial: (peer, options) => connectionManager.openConnection(peer, options),
      getConnections: (peer) => connectionManager.getConnections(peer),
      getMultiaddrs: () => addressManager.getAddresses()
    }
  }
  return {
    peerId: host.peerId,
    peerStore: host.peerStore,
    events: host,
    handle: (protocol, handler, options) => host.handle(protocol, handler, options),
    unhandle: (protocol) => host.unhandle(protocol),
    dialProtocol: (peer, protocol, options) => host.dialProtocol(peer, protocol, options),
    dial: (peer, options) => host.dial(peer, options),
    getConnections: (peer) => host.getConnections(peer),
    getMultiaddrs: () => host.getMultiaddrs()
  }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** Settings of the libp2p network; every field has a default (see {@link defaults}). */
export interface Libp2pNetworkOptions {
  /** Protocol identifier to speak and, when serving, to advertise. */
  readonly protocol?: string
  /** Deadline for one request, send or connect when the caller gives none. */
  readonly requestTimeoutMillis?: number
  /** How long an inbound stream may sit without a new request (or a response write may stall) before it is closed. */
  readonly inboundIdleTimeoutMillis?: number
  /** How long an idle outbound stream is kept for reuse; below common server idle timeouts so reuse rarely races a close. */
  readonly outboundIdleTimeoutMillis?: number
  /** Idle outbound streams kept per peer for reuse. */
  readonly maxIdleStreamsPerPeer?: number
  /** Concurrent inbound DHT streams accepted per connection (enforced by libp2p) and per peer (enforced here). */
  readonly maxInboundStreams?: number
  /** Concurrent outbound DHT streams per connection (enforced by libp2p). */
  readonly maxOutboundStreams?: number
  /** Largest message accepted or sent, in bytes. */
  readonly maxMessageSize?: number
  /** Peer events buffered per slow subscriber before the oldest are dropped. */
  readonly eventBufferSize?: number
}

/** The default settings: the public DHT protocol, libp2p's stream limits and 4 MiB messages. */
export const defaults: Required<Libp2pNetworkOptions> = {
  protocol: DEFAULT_PROTOCOL,
  requestTimeoutMillis: 10_000,
  inboundIdleTimeoutMillis: 10_000,
  outboundIdleTimeoutMillis: 5_000,
  maxIdleStreamsPerPeer: 4,
  maxInboundStreams: 32,
  maxOutboundStreams: 64,
  maxMessageSize: MAX_MESSAGE_SIZE,
  eventBufferSize: 4096
}

const resolveOptions = (
  options: Libp2pNetworkOptions
): Effect.Effect<Required<Libp2pNetworkOptions>, InvalidOptionError> =>
  Effect.suspend(() => {
    const resolved = { ...defaults, ...stripUndefined(options) }
    if (resolved.protocol.length === 0 || !resolved.protocol.startsWith("/")) {
      return Effect.fail(
        new InvalidOptionError({ field: "protocol", reason: "must be a non-empty path starting with /" })
      )
    }
    const positive: ReadonlyArray<keyof Libp2pNetworkOptions> = [
      "requestTimeoutMillis",
      "inboundIdleTimeoutMillis",
      "outboundIdleTimeoutMillis",
      "maxInboundStreams",
      "maxOutboundStreams",
      "maxMessageSize",
      "eventBufferSize"
    ]
    for (const field of positive) {
      const value = resolved[field] as number
      if (!Number.isFinite(value) || value <= 0) {
        return Effect.fail(new InvalidOptionError({ field, reason: `must be a positive number, got ${value}` }))
      }
    }
    if (!Number.isInteger(resolved.maxIdleStreamsPerPeer) || resolved.maxIdleStreamsPerPeer < 0) {
      return Effect.fail(
        new InvalidOptionError({ field: "maxIdleStreamsPerPeer", reason: "must be a non-negative integer" })
      )
    }
    return Effect.succeed(resolved)
  })

const stripUndefined = <A extends object>(value: A): Partial<A> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<A>

// ---------------------------------------------------------------------------
// Outbound stream pool
// ---------------------------------------------------------------------------

interface IdleStream {
  readonly framed: FramedStream
  readonly timer: ReturnType<typeof setTimeout>
}

/**
 * Idle outbound streams per peer. Plain callbacks rather than fibers: an
 * entry lives only until a timer fires or the remote closes, and both are
 * host events.
 */
class StreamPool {
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
   * cannot carry another request (the remote closed its side, sent more
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

// ---------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------

/** A reused stream failed before the remote said anything: it was closed under us, so retry on a fresh one. */
class StaleStream extends Data.TaggedError("StaleStream")<{ readonly failure: StreamFailure }> {}

type ExchangeError = StreamFailure | MessageTooLargeError | DecodeError | StaleStream | RequestError

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** libp2p's multistream-select rejection: the peer does not speak the protocol, so retrying cannot help. */
const isUnsupportedProtocol = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "UnsupportedProtocolError"

const P2P_CODE = 421

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
    const self = ops.peerId
    const protocol = config.protocol
    const maxMessageSize = config.maxMessageSize

    const events = yield* Effect.acquireRelease(PubSub.sliding<PeerEvent>(config.eventBufferSize), PubSub.shutdown)
    const pool = new StreamPool(config.maxIdleStreamsPerPeer, config.outboundIdleTimeoutMillis)
    yield* Effect.addFinalizer(() => Effect.sync(() => pool.close()))

    yield* listenToHost(ops, protocol, events, pool)

    const withDeadline = <A, E>(
      effect: Effect.Effect<A, E>,
      operation: string,
      requestOptions: RequestOptions | undefined
    ): Effect.Effect<A, E | TimeoutError> => {
      const millis = requestOptions?.timeoutMillis ?? config.requestTimeoutMillis
      return Effect.timeoutFail(effect, {
        duration: Duration.millis(millis),
        onTimeout: () => new TimeoutError({ operation, millis })
      })
    }

    const openStream = (peer: PeerId): Effect.Effect<Stream, TransientNetworkError | ProtocolError> =>
      Effect.async((resume, signal) => {
        ops.dialProtocol(peer, protocol, { signal, maxOutboundStreams: config.maxOutboundStreams }).then(
          (stream) => {
            // The caller gave up (timeout) while the stream was being negotiated: nobody will use it.
            if (signal.aborted) stream.abort(new StreamAbortedError("request cancelled"))
            else resume(Effect.succeed(stream))
          },
          (cause: unknown) => {
            const id = peer.toString()
            resume(
              Effect.fail(
                isUnsupportedProtocol(cause)
                  ? new ProtocolError({ peer: id, reason: `peer does not support ${protocol}`, cause })
                  : new TransientNetworkError({
                      peer: id,
                      reason: `cannot open a ${protocol} stream: ${errorText(cause)}`,
                      cause
                    })
              )
            )
          }
        )
      })

    const encodeFrame = (peer: PeerId, message: Message): Either.Either<Uint8Array, ProtocolError> => {
      const body = encodeMessage(message)
      if (body.byteLength > maxMessageSize) {
        return Either.left(
          new ProtocolError({
            peer: peer.toString(),
            reason: `message of ${body.byteLength} bytes exceeds the ${maxMessageSize} byte limit`
          })
        )
      }
      return Either.right(frame(body))
    }

    /** One write and one read on `framed`; the caller owns the stream's fate. */
    const roundTrip = (framed: FramedStream, bytes: Uint8Array, onSent: (() => void) | undefined) =>
      Effect.gen(function* () {
        yield* framed.write(bytes)
        onSent?.()
        const body = yield* framed.read
        if (body === undefined) {
          return yield* Effect.fail(new StreamFailure({ reason: "stream closed before a response" }))
        }
        return yield* decodeMessage(body)
      })

    /**
     * One attempt on a pooled stream (when `reuse` and one is idle) or a new
     * one. The stream goes back to the pool only after a clean exchange;
     * any failure or interruption (the deadline) resets it.
     */
    const attempt = (
      peer: PeerId,
      bytes: Uint8Array,
      reuse: boolean,
      onSent: (() => void) | undefined
    ): Effect.Effect<Message, ExchangeError> => {
      const key = peer.toString()
      return Effect.uninterruptibleMask((restore) => {
        const pooled = reuse ? pool.take(key) : undefined
        const acquire: Effect.Effect<FramedStream, TransientNetworkError | ProtocolError> =
          pooled !== undefined
            ? Effect.succeed(pooled)
            : Effect.map(restore(openStream(peer)), (stream) => new FramedStream(stream, maxMessageSize))
        return Effect.flatMap(acquire, (framed) => {
          const heardBefore = framed.bytesReceived
          return restore(roundTrip(framed, bytes, onSent)).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                if (Exit.isSuccess(exit)) pool.put(key, framed)
                else framed.abort(abortReason(exit.cause))
              })
            ),
            Effect.mapError((error) =>
              pooled !== undefined && error._tag === "StreamFailure" && framed.bytesReceived === heardBefore
                ? new StaleStream({ failure: error })
                : error
            )
          )
        })
      })
    }

    const toRequestError = (peer: PeerId, error: ExchangeError): RequestError => {
      const id = peer.toString()
      switch (error._tag) {
        case "StreamFailure":
          return new TransientNetworkError({ peer: id, reason: error.reason, cause: error.cause })
        case "StaleStream":
          return new TransientNetworkError({ peer: id, reason: error.failure.reason, cause: error.failure.cause })
        case "MessageTooLargeError":
          return new ProtocolError({ peer: id, reason: error.message, cause: error })
        case "DecodeError":
          return new ProtocolError({ peer: id, reason: error.message, cause: error })
        default:
          return error
      }
    }

    const request: NetworkShape["request"] = (peer, message, requestOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeFrame(peer, message)),
        (bytes) =>
          attempt(peer, bytes, true, requestOptions?.onSent).pipe(
            // a pooled stream the remote had closed: the one retry, on a fresh stream, as go does
            Effect.catchTag("StaleStream", () => attempt(peer, bytes, false, requestOptions?.onSent)),
            Effect.mapError((error) => toRequestError(peer, error))
          )
      ).pipe((effect) => withDeadline(effect, `request to ${peer.toString()}`, requestOptions))

    const send: NetworkShape["send"] = (peer, message, requestOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeFrame(peer, message)),
        (bytes) =>
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(openStream(peer)), (stream) => {
              const framed = new FramedStream(stream, maxMessageSize)
              // Closing our side tells the server no response is awaited and flushes the frame.
              return restore(Effect.zipRight(framed.write(bytes), framed.close)).pipe(
                Effect.onExit((exit) =>
                  Effect.sync(() => (Exit.isSuccess(exit) ? framed.detach() : framed.abort(abortReason(exit.cause))))
                ),
                Effect.mapError((error) => toRequestError(peer, error))
              )
            })
          )
      ).pipe((effect) => withDeadline(effect, `send to ${peer.toString()}`, requestOptions))

    const serve: NetworkShape["serve"] = (handler) =>
      Effect.gen(function* () {
        const run = yield* FiberSet.makeRuntime<never, void, never>()
        const openPerPeer = new Map<string, number>()
        const onStream: StreamHandler = (stream, connection) => {
          run(serveStream(handler, stream, connection.remotePeer, openPerPeer))
        }
        yield* Effect.acquireRelease(
          Effect.promise(() =>
            ops.handle(protocol, onStream, {
              maxInboundStreams: config.maxInboundStreams,
              maxOutboundStreams: config.maxOutboundStreams
            })
          ),
          () => Effect.promise(() => ops.unhandle(protocol).catch(() => undefined))
        )
      })

    const serveStream = (
      handler: RequestHandler,
      stream: Stream,
      peer: PeerId,
      openPerPeer: Map<string, number>
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        const key = peer.toString()
        const open = (openPerPeer.get(key) ?? 0) + 1
        if (open > config.maxInboundStreams) {
          stream.abort(new StreamAbortedError("too many concurrent DHT streams from this peer"))
          return Effect.void
        }
        openPerPeer.set(key, open)
        const framed = new FramedStream(stream, maxMessageSize)
        return answerRequests(handler, framed, peer).pipe(
          Effect.onInterrupt(() => Effect.sync(() => framed.abort("DHT server stopped"))),
          Effect.ensuring(
            Effect.sync(() => {
              const left = (openPerPeer.get(key) ?? 1) - 1
              if (left === 0) openPerPeer.delete(key)
              else openPerPeer.set(key, left)
            })
          )
        )
      })

    /** Reads requests from one inbound stream and answers them until it ends, idles out or misbehaves. */
    const answerRequests = (handler: RequestHandler, framed: FramedStream, peer: PeerId): Effect.Effect<void> =>
      Effect.gen(function* () {
        const idle = Duration.millis(config.inboundIdleTimeoutMillis)
        for (;;) {
          const next = yield* Effect.either(Effect.timeout(framed.read, idle))
          if (Either.isLeft(next)) {
            const error = next.left
            if (error._tag === "TimeoutException" && !framed.inFrame) return yield* closeInbound(framed, idle)
            const reason =
              error._tag === "TimeoutException"
                ? "idle timeout inside a frame"
                : error._tag === "StreamFailure"
                  ? error.reason
                  : error.message
            yield* Effect.logDebug(`resetting inbound ${protocol} stream from ${peer.toString()}: ${reason}`)
            return framed.abort(reason)
          }
          const body = next.right
          if (body === undefined) return yield* closeInbound(framed, idle)
          const decoded = decodeMessage(body)
          if (Either.isLeft(decoded)) {
            yield* Effect.logDebug(
              `resetting inbound ${protocol} stream from ${peer.toString()}: ${decoded.left.message}`
            )
            return framed.abort(decoded.left.message)
          }
          const answered = yield* Effect.exit(handler(peer, decoded.right))
          if (Exit.isFailure(answered)) {
            const refused = Cause.failureOption(answered.cause)
            if (refused._tag === "Some") {
              yield* Effect.logDebug(`refused a request from ${peer.toString()}: ${refused.value.reason}`)
              return framed.abort(refused.value.reason)
            }
            yield* Effect.logWarning(`DHT request handler failed for ${peer.toString()}`, answered.cause)
            return framed.abort("request handler failed")
          }
          const response = answered.value
          if (response === undefined) continue
          const encoded = encodeMessage(response)
          if (encoded.byteLength > maxMessageSize) {
            yield* Effect.logWarning(`DHT response of ${encoded.byteLength} bytes exceeds the limit; resetting`)
            return framed.abort("response too large")
          }
          const written = yield* Effect.either(Effect.timeout(framed.write(frame(encoded)), idle))
          if (Either.isLeft(written)) return framed.abort("cannot write response")
        }
      })

    /**
     * Closes our side, then gives the remote one more idle period to close
     * its own. A remote that never does would keep the stream half-open, and
     * counted against the connection's stream limit, for the life of the
     * connection: it is reset instead.
     */
    const closeInbound = (framed: FramedStream, idle: Duration.Duration): Effect.Effect<void> =>
      framed.close.pipe(
        Effect.timeout(idle),
        Effect.zipRight(
          remoteDone(framed.stream).pipe(
            Effect.timeout(idle),
            Effect.catchAll(() => Effect.sync(() => framed.abort("remote kept its side of an idle stream open")))
          )
        ),
        Effect.catchAll(() => Effect.sync(() => framed.abort("cannot close stream")))
      )

    const addressesOf: NetworkShape["addressesOf"] = (peer) =>
      Effect.promise(() =>
        ops.peerStore.get(peer).then(
          (stored) => stored.addresses.map((address) => address.multiaddr),
          () => []
        )
      )

    const rememberAddresses: NetworkShape["rememberAddresses"] = (peer) =>
      Effect.suspend(() => {
        if (peer.multiaddrs.length === 0 || peer.id.equals(self)) return Effect.void
        // merge, not patch: addresses learned elsewhere (identify, other responses) stay
        return Effect.promise(() =>
          ops.peerStore.merge(peer.id, { multiaddrs: [...peer.multiaddrs] }).then(
            () => undefined,
            () => undefined
          )
        )
      })

    const selfInfo: NetworkShape["selfInfo"] = Effect.sync(() => {
      const seen = new Set<string>()
      const multiaddrs: Array<Multiaddr> = []
      for (const address of ops.getMultiaddrs()) {
        const last = address.getComponents().at(-1)
        const bare =
          last?.code === P2P_CODE && last.value === self.toString() ? address.decapsulateCode(P2P_CODE) : address
        const text = bare.toString()
        if (seen.has(text)) continue
        seen.add(text)
        multiaddrs.push(bare)
      }
      return { id: self, multiaddrs }
    })

    const connectedPeers: NetworkShape["connectedPeers"] = Effect.sync(() => {
      const seen = new Map<string, PeerId>()
      for (const connection of ops.getConnections()) {
        if (connection.status === "open") seen.set(connection.remotePeer.toString(), connection.remotePeer)
      }
      return [...seen.values()]
    })

    const connectedServers: NetworkShape["connectedServers"] = Effect.flatMap(connectedPeers, (peers) =>
      Effect.promise(async () => {
        const servers: Array<PeerInfo> = []
        for (const peer of peers) {
          const stored = await ops.peerStore.get(peer).catch(() => undefined)
          if (stored?.protocols.includes(protocol)) {
            servers.push({ id: stored.id, multiaddrs: stored.addresses.map((address) => address.multiaddr) })
          }
        }
        return servers
      })
    )

    const isConnected: NetworkShape["isConnected"] = (peer) =>
      Effect.sync(() => ops.getConnections(peer).some((connection) => connection.status === "open"))

    const connectionAddressesOf: NetworkShape["connectionAddressesOf"] = (peer) =>
      Effect.sync(() =>
        ops
          .getConnections(peer)
          .filter((connection) => connection.status === "open")
          .map((connection) => connection.remoteAddr)
      )

    /** Identify has run when the peer store lists the peer's protocols; a closed connection ends the wait too. */
    const identifiedOrGone = (peer: PeerId): Promise<boolean> =>
      ops.getConnections(peer).some((connection) => connection.status === "open")
        ? ops.peerStore.get(peer).then(
            (stored) => stored.protocols.length > 0,
            () => false
          )
        : Promise.resolve(true)

    const awaitIdentified: NetworkShape["awaitIdentified"] = (peers) =>
      Effect.gen(function* () {
        const pending = new Set(peers)
        // identify answers within a round trip or two; each pause is a point where the caller's timeout ends the wait
        while (pending.size > 0) {
          for (const peer of [...pending]) {
            if (yield* Effect.promise(() => identifiedOrGone(peer))) pending.delete(peer)
          }
          if (pending.size > 0) yield* Effect.sleep(Duration.millis(50))
        }
      })

    const connect: NetworkShape["connect"] = (peer, requestOptions) =>
      rememberAddresses(peer).pipe(
        Effect.zipRight(
          Effect.tryPromise({
            try: (signal) => ops.dial(peer.id, { signal }),
            catch: (cause) =>
              new TransientNetworkError({ peer: peer.id.toString(), reason: `dial failed: ${errorText(cause)}`, cause })
          })
        ),
        Effect.asVoid,
        (effect) => withDeadline(effect, `connect to ${peer.id.toString()}`, requestOptions)
      )

    return {
      self,
      protocol,
      request,
      send,
      serve,
      addressesOf,
      rememberAddresses,
      selfInfo,
      connectedServers,
      isConnected,
      connectionAddressesOf,
      connectedPeers,
      awaitIdentified,
      connect,
      events: EffectStream.fromPubSub(events)
    } satisfies NetworkShape
  })

/** Completes once the stream is closed both ways (or reset). */
const remoteDone = (stream: Stream): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (stream.status !== "open") {
      resume(Effect.void)
      return
    }
    const onClose = () => resume(Effect.void)
    stream.addEventListener("close", onClose, { once: true })
    return Effect.sync(() => stream.removeEventListener("close", onClose))
  })

/** The reason a stream is reset with, from why its exchange ended. */
const abortReason = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "request cancelled"
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** Feeds host events into `events` for the scope's lifetime. */
const listenToHost = (
  ops: HostOps,
  protocol: string,
  events: PubSub.PubSub<PeerEvent>,
  pool: StreamPool
): Effect.Effect<void, never, Scope.Scope> => {
  // Peers announced as servers, so "gone" is said once and only about a peer that was "seen".
  const servers = new Set<string>()
  const gone = (peer: PeerId): void => {
    if (servers.delete(peer.toString())) events.unsafeOffer({ _tag: "DhtServerGone", peer })
  }
  const onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const result = event.detail
    if (result.peerId.equals(ops.peerId)) return
    if (result.protocols.includes(protocol)) {
      servers.add(result.peerId.toString())
      events.unsafeOffer({ _tag: "DhtServerSeen", peer: { id: result.peerId, multiaddrs: result.listenAddrs } })
    } else if (result.protocols.length > 0) {
      gone(result.peerId)
    }
  }
  // Identify (or an identify push) rewrites the stored protocols; losing ours there means client mode.
  const onUpdate = (event: CustomEvent<PeerUpdate>): void => {
    const { peer, previous } = event.detail
    if (previous?.protocols.includes(protocol) === true && !peer.protocols.includes(protocol)) {
      servers.delete(peer.id.toString())
      events.unsafeOffer({ _tag: "DhtServerGone", peer: peer.id })
    }
  }
  const onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail
    servers.delete(peer.toString())
    pool.drop(peer.toString())
    events.unsafeOffer({ _tag: "Disconnected", peer })
  }
  return Effect.acquireRelease(
    Effect.sync(() => {
      ops.events.addEventListener("peer:identify", onIdentify)
      ops.events.addEventListener("peer:update", onUpdate)
      ops.events.addEventListener("peer:disconnect", onDisconnect)
    }),
    () =>
      Effect.sync(() => {
        ops.events.removeEventListener("peer:identify", onIdentify)
        ops.events.removeEventListener("peer:update", onUpdate)
        ops.events.removeEventListener("peer:disconnect", onDisconnect)
      })
  )
}

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
