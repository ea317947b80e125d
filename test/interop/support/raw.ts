/**
 * Raw access to the DHT protocol: open a stream with `dialProtocol`, write
 * whatever bytes a test wants, and watch how the other side ends the
 * stream. Requests are framed and decoded with this project's codec, which
 * the kernel tests check against go and js wire vectors.
 *
 * @module
 */
import {
  DEFAULT_PROTOCOL,
  decodeMessage,
  encodeMessage,
  FrameDecoder,
  frame,
  type Message,
  type MessageType
} from "@effect-kad/core"
import type { PeerId, Stream } from "@libp2p/interface"
import { Duration, Effect, Either } from "effect"
import type { Libp2p } from "libp2p"
import { InteropError } from "./nodes.js"

/** A request as tests write it: any byte arrays, copied into the codec's types when encoded. */
export interface RawRequest {
  readonly type: MessageType
  readonly key?: Uint8Array
  readonly record?: { readonly key?: Uint8Array; readonly value?: Uint8Array; readonly timeReceived?: string }
}

const copy = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new Uint8Array(bytes))

/** The framed wire bytes of a request. */
export const encodeRequest = (request: RawRequest): Uint8Array =>
  frame(
    encodeMessage({
      type: request.type,
      key: copy(request.key),
      record:
        request.record === undefined
          ? undefined
          : {
              key: copy(request.record.key),
              value: copy(request.record.value),
              timeReceived: request.record.timeReceived
            },
      closerPeers: [],
      providerPeers: []
    })
  )

/** How a stream ended, seen from the side that opened it. */
export type StreamEnd =
  /** The remote reset the stream (or the muxer aborted it). */
  | "reset"
  /** The remote closed its writing side without an error. */
  | "closed"
  /** Nothing happened before the deadline: the remote left the stream open. */
  | "open"

/** What the opener of a raw stream observed. */
export interface RawOutcome {
  readonly end: StreamEnd
  /** Frames the remote wrote before the end. */
  readonly frames: ReadonlyArray<Uint8Array>
  /** Milliseconds from the write to the end. */
  readonly millis: number
}

const open = (from: Libp2p, to: PeerId, protocol: string) =>
  Effect.tryPromise({
    try: (signal) => from.dialProtocol(to, protocol, { signal }),
    catch: (cause) => new InteropError({ node: from.peerId.toString(), operation: `dialProtocol ${protocol}`, cause })
  })

/**
 * Waits for the remote to end `stream` (reset, or close of its writing
 * side), collecting the frames it writes on the way. Frames longer than
 * the decoder accepts are not expected from a well-behaved remote.
 */
const watch = (stream: Stream, deadline: Duration.DurationInput): Promise<RawOutcome> =>
  new Promise((resolve) => {
    const started = Date.now()
    const decoder = new FrameDecoder()
    const frames: Array<Uint8Array> = []
    let settled = false
    const finish = (end: StreamEnd) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ end, frames, millis: Date.now() - started })
    }
    const timer = setTimeout(() => finish("open"), Duration.toMillis(deadline))
    stream.addEventListener("message", (event) => {
      try {
        frames.push(...decoder.push(event.data))
      } catch {
        finish("reset")
      }
    })
    stream.addEventListener("close", (event) => finish(event.error === undefined ? "closed" : "reset"))
    stream.addEventListener("remoteCloseWrite", () => finish("closed"))
    if (stream.status === "reset" || stream.status === "aborted") finish("reset")
    else if (stream.status === "closed" || stream.remoteWriteStatus === "closed") finish("closed")
  })

/**
 * Opens a DHT stream from `from` to `to`, writes `bytes` and reports how
 * the remote ended the stream within `deadline`. The stream is aborted
 * afterwards whatever happened.
 */
export const sendRaw = (
  from: Libp2p,
  to: PeerId,
  bytes: Uint8Array,
  deadline: Duration.DurationInput = "15 seconds",
  protocol = DEFAULT_PROTOCOL
): Effect.Effect<RawOutcome, InteropError> =>
  Effect.acquireUseRelease(
    open(from, to, protocol),
    (stream) =>
      Effect.promise(() => {
        const outcome = watch(stream, deadline)
        stream.send(bytes)
        return outcome
      }),
    (stream) => Effect.sync(() => stream.abort(new Error("raw exchange over")))
  )

/**
 * One request/response exchange on a fresh stream, written and read by
 * hand: the response is the first frame the remote writes.
 */
export const rawRequest = (
  from: Libp2p,
  to: PeerId,
  request: RawRequest,
  deadline: Duration.DurationInput = "15 seconds"
): Effect.Effect<Message, InteropError> =>
  Effect.acquireUseRelease(
    open(from, to, DEFAULT_PROTOCOL),
    (stream) =>
      Effect.tryPromise({
        try: async () => {
          const response = new Promise<Uint8Array>((resolve, reject) => {
            const decoder = new FrameDecoder()
            const timer = setTimeout(() => reject(new Error("no response in time")), Duration.toMillis(deadline))
            stream.addEventListener("message", (event) => {
              const [first] = decoder.push(event.data)
              if (first !== undefined) {
                clearTimeout(timer)
                resolve(first)
              }
            })
            stream.addEventListener("close", () => {
              clearTimeout(timer)
              reject(new Error("stream ended without a response"))
            })
          })
          stream.send(encodeRequest(request))
          const decoded = decodeMessage(await response)
          if (Either.isLeft(decoded)) throw decoded.left
          return decoded.right
        },
        catch: (cause) => new InteropError({ node: from.peerId.toString(), operation: "raw request", cause })
      }),
    (stream) => Effect.promise(() => stream.close().catch(() => stream.abort(new Error("close failed"))))
  )
