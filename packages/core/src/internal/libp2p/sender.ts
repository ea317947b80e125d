/**
 * The outbound side of the libp2p `Network`, after go-libp2p-kad-dht's
 * message manager: every message, request or one-way, takes an idle stream
 * to the peer from the pool or opens one, and writes one varint-framed
 * message; a request then reads exactly one framed response. The stream
 * goes back to the pool after a clean exchange, so a peer that is sent many
 * messages (a region's ADD_PROVIDERs) gets them over a few streams. A reused
 * stream that turns out dead is retried once on a fresh one.
 *
 * @module
 */
import type { PeerId, Stream } from "@libp2p/interface"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import {
  type DecodeError,
  type MessageTooLargeError,
  ProtocolError,
  TimeoutError,
  TransientNetworkError
} from "../../errors.js"
import type { NetworkShape, RequestError, RequestOptions } from "../../network/network.js"
import { decodeMessage, encodeMessage, type Message, MessageType } from "../../wire/codec.js"
import { frame } from "../../wire/frame.js"
import { FramedStream, StreamAbortedError, StreamFailure } from "./framed.js"
import { errorText, type HostOps } from "./host.js"
import type { Libp2pNetworkOptions } from "./options.js"
import type { StreamPool } from "./stream-pool.js"

/** A reused stream failed before the remote said anything: it was closed under us, so retry on a fresh one. */
class StaleStream extends Data.TaggedError("StaleStream")<{ readonly failure: StreamFailure }> {}

/**
 * A stream that carried a one-way message answered a request with a frame
 * of another type: the remote answered the one-way message after all, and
 * that answer is not this request's. The request is retried on a fresh
 * stream, which carries nothing before it.
 */
class StrayResponse extends Data.TaggedError("StrayResponse")<{
  readonly expected: MessageType
  readonly received: MessageType
}> {}

type ExchangeError = StreamFailure | MessageTooLargeError | DecodeError | StaleStream | StrayResponse | RequestError

/** libp2p's multistream-select rejection: the peer does not speak the protocol, so retrying cannot help. */
const isUnsupportedProtocol = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "UnsupportedProtocolError"

/** The reason a stream is reset with, from why its exchange ended. */
const abortReason = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "request cancelled"
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** Puts a deadline on a network operation: the caller's, or the configured request timeout. */
export type WithDeadline = <A, E>(
  effect: Effect.Effect<A, E>,
  operation: string,
  requestOptions: RequestOptions | undefined
) => Effect.Effect<A, E | TimeoutError>

/** The outbound operations of the network. */
export interface Sender {
  readonly request: NetworkShape["request"]
  readonly send: NetworkShape["send"]
  readonly withDeadline: WithDeadline
}

/**
 * The outbound side over `ops`, reusing streams from `pool`.
 *
 * @example
 * ```ts
 * const sender = makeSender(toHostOps(node), config, pool)
 * const response = yield* sender.request(peer, { type: MessageType.PING, closerPeers: [], providerPeers: [] })
 * ```
 */
export const makeSender = (ops: HostOps, config: Required<Libp2pNetworkOptions>, pool: StreamPool): Sender => {
  const protocol = config.protocol
  const maxMessageSize = config.maxMessageSize

  const withDeadline: WithDeadline = <A, E>(
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

  // Streams that carried a one-way message: the only ones on which a frame
  // read for a request can be an answer to something else (see StrayResponse).
  const carriedOneWay = new WeakSet<FramedStream>()

  /** One write and one read on `framed`; the caller owns the stream's fate. */
  const roundTrip = (
    framed: FramedStream,
    bytes: Uint8Array,
    type: Message["type"],
    onSent: (() => void) | undefined
  ): Effect.Effect<Message, ExchangeError> =>
    Effect.gen(function* () {
      yield* framed.write(bytes)
      onSent?.()
      const body = yield* framed.read
      if (body === undefined) {
        return yield* Effect.fail(new StreamFailure({ reason: "stream closed before a response" }))
      }
      const response = yield* decodeMessage(body)
      // decoding makes an absent type PUT_VALUE, the proto3 default; so does the comparison
      const expected = type ?? MessageType.PUT_VALUE
      const received = response.type ?? MessageType.PUT_VALUE
      if (received !== expected && carriedOneWay.has(framed)) {
        return yield* Effect.fail(new StrayResponse({ expected, received }))
      }
      return response
    })

  /**
   * One write and no read: the server answers nothing, so the stream is
   * free again once the frame is out. Sent means written, as in go: no
   * answer tells whether the remote read it, on a reused stream as on a new
   * one; only a write that fails is known, and reported.
   */
  const oneWay = (framed: FramedStream, bytes: Uint8Array): Effect.Effect<void, StreamFailure> => {
    carriedOneWay.add(framed)
    return framed.write(bytes)
  }

  /**
   * One attempt of `exchange` on a pooled stream (when `reuse` and one is
   * idle) or a new one. The stream goes back to the pool only after a clean
   * exchange; any failure or interruption (the deadline) resets it, so a
   * stream with half a frame on it is never reused.
   */
  const attempt = <A>(
    peer: PeerId,
    reuse: boolean,
    exchange: (framed: FramedStream) => Effect.Effect<A, ExchangeError>
  ): Effect.Effect<A, ExchangeError> => {
    const key = peer.toString()
    return Effect.uninterruptibleMask((restore) => {
      const pooled = reuse ? pool.take(key) : undefined
      const acquire: Effect.Effect<FramedStream, TransientNetworkError | ProtocolError> =
        pooled !== undefined
          ? Effect.succeed(pooled)
          : Effect.map(restore(openStream(peer)), (stream) => new FramedStream(stream, maxMessageSize))
      return Effect.flatMap(acquire, (framed) => {
        const heardBefore = framed.bytesReceived
        return restore(exchange(framed)).pipe(
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

  /** `exchange` on a pooled stream, and once more on a fresh one when the pooled one was dead, as go does. */
  const withFreshRetry = <A>(
    peer: PeerId,
    exchange: (framed: FramedStream) => Effect.Effect<A, ExchangeError>
  ): Effect.Effect<A, RequestError> =>
    attempt(peer, true, exchange).pipe(
      Effect.catchTags({
        StaleStream: () => attempt(peer, false, exchange),
        StrayResponse: () => attempt(peer, false, exchange)
      }),
      Effect.mapError((error) => toRequestError(peer, error))
    )

  const toRequestError = (peer: PeerId, error: ExchangeError): RequestError => {
    const id = peer.toString()
    switch (error._tag) {
      case "StreamFailure":
        return new TransientNetworkError({ peer: id, reason: error.reason, cause: error.cause })
      case "StaleStream":
        return new TransientNetworkError({ peer: id, reason: error.failure.reason, cause: error.failure.cause })
      case "StrayResponse":
        return new ProtocolError({
          peer: id,
          reason: `a ${error.received} response to a ${error.expected} request`
        })
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
      (bytes) => withFreshRetry(peer, (framed) => roundTrip(framed, bytes, message.type, requestOptions?.onSent))
    ).pipe((effect) => withDeadline(effect, `request to ${peer.toString()}`, requestOptions))

  const send: NetworkShape["send"] = (peer, message, requestOptions) =>
    Effect.flatMap(
      Effect.suspend(() => encodeFrame(peer, message)),
      (bytes) => withFreshRetry(peer, (framed) => oneWay(framed, bytes))
    ).pipe((effect) => withDeadline(effect, `send to ${peer.toString()}`, requestOptions))

  return { request, send, withDeadline }
}
