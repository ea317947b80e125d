/**
 * Frame-at-a-time reading and writing over one libp2p stream, shared by the
 * outbound and inbound sides of the libp2p `Network`.
 *
 * A libp2p 3 stream delivers bytes through `message` events. Its async
 * iterator detaches its listeners when a loop breaks, so it cannot be read
 * one response at a time and then parked for the next request; this reader
 * listens for the stream's whole life instead, splits the bytes with core's
 * {@link FrameDecoder}, and pauses the stream while a complete frame waits to
 * be taken, which leaves flow control to the muxer.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { Uint8ArrayList } from "uint8arraylist"
import { MessageTooLargeError } from "../../errors.js"
import { FrameDecoder } from "../../wire/frame.js"

/** The stream closed, was reset, or refused a write or read; `reason` says which. */
export class StreamFailure extends Data.TaggedError("StreamFailure")<{
  readonly reason: string
  readonly cause?: unknown
}> {}

/** What one read yields: a frame body, or `undefined` when the remote closed its side cleanly between frames. */
export type FrameRead = Uint8Array | undefined

/** Error carried on a stream we abort ourselves, so the remote and the logs see why. */
export class StreamAbortedError extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = "StreamAbortedError"
  }
}

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * A libp2p stream read and written one length-prefixed frame at a time.
 *
 * @example
 * ```ts
 * const framed = new FramedStream(stream, MAX_MESSAGE_SIZE)
 * yield* framed.write(frame(encodeMessage(request)))
 * const body = yield* framed.read // Uint8Array, or undefined at a clean end
 * ```
 */
export class FramedStream {
  private readonly decoder: FrameDecoder
  private readonly frames: Array<Uint8Array> = []
  private failure: StreamFailure | MessageTooLargeError | undefined
  private ended = false
  private waiter: (() => void) | undefined
  private attached = true
  /** Bytes received since construction; zero means the remote has said nothing yet. */
  bytesReceived = 0
  /** Called once when the stream can no longer deliver frames (clean end, reset, bad frame). */
  onTerminate: (() => void) | undefined

  constructor(
    readonly stream: Stream,
    maxMessageSize: number
  ) {
    this.decoder = new FrameDecoder(maxMessageSize)
    stream.addEventListener("message", this.onMessage)
    stream.addEventListener("end", this.onEnd)
    stream.addEventListener("close", this.onClose)
    if (stream.status === "reset" || stream.status === "aborted") {
      this.fail(new StreamFailure({ reason: `stream already ${stream.status}` }))
    } else if (stream.readableEnded) {
      this.onEnd()
    }
  }

  /** True while the stream is open both ways and nothing unread or half-read is buffered. */
  get isIdle(): boolean {
    const stream = this.stream
    return (
      this.attached &&
      this.failure === undefined &&
      !this.ended &&
      this.frames.length === 0 &&
      !this.decoder.inFrame &&
      stream.status === "open" &&
      stream.writeStatus === "writable" &&
      stream.remoteWriteStatus === "writable" &&
      (stream.readStatus === "readable" || stream.readStatus === "paused")
    )
  }

  /** True when a frame has started arriving but is not complete. */
  get inFrame(): boolean {
    return this.decoder.inFrame
  }

  /**
   * The next frame body, or `undefined` when the remote closed its writing
   * side between frames. Fails with {@link MessageTooLargeError} for an
   * oversized prefix and {@link StreamFailure} for a reset or a truncated frame.
   */
  readonly read: Effect.Effect<FrameRead, StreamFailure | MessageTooLargeError> = Effect.async((resume) => {
    const ready = this.poll()
    if (ready !== undefined) {
      resume(ready)
      return
    }
    this.waiter = () => {
      const next = this.poll()
      if (next !== undefined) {
        this.waiter = undefined
        resume(next)
      }
    }
    return Effect.sync(() => {
      this.waiter = undefined
    })
  })

  /** Queues `bytes` and waits until the stream's write buffer has drained. */
  write(bytes: Uint8Array): Effect.Effect<void, StreamFailure> {
    return Effect.tryPromise({
      try: async (signal) => {
        if (!this.stream.send(bytes)) await this.stream.onDrain({ signal })
      },
      catch: (cause) => new StreamFailure({ reason: `write failed: ${errorText(cause)}`, cause })
    })
  }

  /**
   * Closes the writing side gracefully, once everything queued has been
   * handed to the transport, and stops listening. When that fails the
   * stream is reset instead.
   */
  readonly close: Effect.Effect<void, StreamFailure> = Effect.tryPromise({
    try: (signal) => this.stream.close({ signal }),
    catch: (cause) => new StreamFailure({ reason: `close failed: ${errorText(cause)}`, cause })
  }).pipe(
    Effect.tapError((failure) => Effect.sync(() => this.abort(failure.reason))),
    Effect.ensuring(Effect.sync(() => this.detach()))
  )

  /** Like {@link close} but without waiting: for callbacks that have nobody to report to. */
  closeInBackground(): void {
    this.detach()
    const stream = this.stream
    if (stream.status !== "open" || stream.writeStatus !== "writable") return
    stream.close().catch((error: unknown) => {
      stream.abort(error instanceof Error ? error : new StreamAbortedError(errorText(error)))
    })
  }

  /** Resets the stream (the remote sees a reset, not a clean end) and stops listening. */
  abort(reason: string): void {
    this.stream.abort(new StreamAbortedError(reason))
    this.detach()
  }

  /** Stops listening to the stream; frames not yet read are dropped. */
  detach(): void {
    if (!this.attached) return
    this.attached = false
    this.stream.removeEventListener("message", this.onMessage)
    this.stream.removeEventListener("end", this.onEnd)
    this.stream.removeEventListener("close", this.onClose)
    this.frames.length = 0
    if (this.failure === undefined && !this.ended) {
      this.failure = new StreamFailure({ reason: "stream released" })
    }
    this.wake()
  }

  /** The effect that settles the pending read, if anything is ready for it. */
  private poll(): Effect.Effect<FrameRead, StreamFailure | MessageTooLargeError> | undefined {
    // Resuming may deliver buffered bytes synchronously, so do it before looking.
    if (this.frames.length === 0) this.resume()
    const next = this.frames.shift()
    if (next !== undefined) {
      if (this.frames.length === 0) this.resume()
      return Effect.succeed(next)
    }
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.ended) {
      return this.decoder.inFrame
        ? Effect.fail(new StreamFailure({ reason: "stream ended inside a frame" }))
        : Effect.succeed(undefined)
    }
    return undefined
  }

  private readonly onMessage = (event: { readonly data: Uint8Array | Uint8ArrayList }): void => {
    if (this.failure !== undefined) return
    this.bytesReceived += event.data.byteLength
    try {
      for (const body of this.decoder.push(event.data)) this.frames.push(body)
    } catch (error) {
      this.fail(
        error instanceof MessageTooLargeError
          ? error
          : new StreamFailure({ reason: `bad frame: ${errorText(error)}`, cause: error })
      )
      return
    }
    // One complete frame is enough to work on: let the muxer hold back the rest.
    if (this.frames.length > 0 && this.stream.readStatus === "readable") this.stream.pause()
    this.wake()
  }

  private readonly onEnd = (): void => {
    if (this.ended) return
    this.ended = true
    this.wake()
    this.terminate()
  }

  private readonly onClose = (event?: { readonly error?: Error }): void => {
    const error = event?.error
    if (error !== undefined) {
      this.fail(new StreamFailure({ reason: `stream reset: ${error.message}`, cause: error }))
    } else {
      this.onEnd()
    }
  }

  private fail(failure: StreamFailure | MessageTooLargeError): void {
    if (this.failure !== undefined) return
    this.failure = failure
    this.frames.length = 0
    this.wake()
    this.terminate()
  }

  private resume(): void {
    if (this.stream.readStatus === "paused") this.stream.resume()
  }

  private wake(): void {
    this.waiter?.()
  }

  private terminate(): void {
    const hook = this.onTerminate
    this.onTerminate = undefined
    hook?.()
  }
}
