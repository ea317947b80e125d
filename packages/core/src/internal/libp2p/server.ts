/**
 * The inbound side of the libp2p `Network`, after go-libp2p-kad-dht's
 * stream handler: `serve` registers the protocol on the host's registrar
 * (which is also what makes identify advertise it, server mode) and answers
 * every framed request arriving on a stream until the remote closes it or it
 * idles out. A stream that misbehaves (oversized frame, undecodable bytes,
 * reset) is reset; the process never crashes on remote input.
 *
 * @module
 */
import type { PeerId, Stream, StreamHandler } from "@libp2p/interface"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type { NetworkShape, RequestHandler } from "../../network/network.js"
import { decodeMessage, encodeMessage } from "../../wire/codec.js"
import { frame } from "../../wire/frame.js"
import { FramedStream, StreamAbortedError } from "./framed.js"
import type { HostOps } from "./host.js"
import type { Libp2pNetworkOptions } from "./options.js"

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

/**
 * The `serve` operation of the network over `ops`.
 *
 * @example
 * ```ts
 * const serve = makeServe(toHostOps(node), config)
 * yield* serve((peer, message) => Effect.succeed(message))
 * ```
 */
export const makeServe = (ops: HostOps, config: Required<Libp2pNetworkOptions>): NetworkShape["serve"] => {
  const protocol = config.protocol
  const maxMessageSize = config.maxMessageSize

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

  return serve
}
