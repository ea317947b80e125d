/**
 * Request/response exchanges written and read by hand on a DHT stream:
 * varint-framed messages built with core's codec, as the spec puts them on
 * the wire, several in turn on one stream as the spec allows.
 *
 * @module
 */
import { FrameDecoder } from "@effect-kad/core"
import type { Stream } from "@libp2p/interface"

/**
 * One DHT stream used for a sequence of exchanges: write a framed request,
 * wait for the next framed response, repeat.
 *
 * @example
 * ```ts
 * const exchange = new FrameExchange(await host.dialProtocol(server, "/ipfs/kad/1.0.0"))
 * const body = await exchange.request(frame(encodeMessage({ type: MessageType.FIND_NODE, key })))
 * ```
 */
export class FrameExchange {
  private readonly decoder = new FrameDecoder()
  private readonly ready: Array<Uint8Array> = []
  private waiting: { resolve: (body: Uint8Array) => void; reject: (error: Error) => void } | undefined
  private failure: Error | undefined

  constructor(readonly stream: Stream) {
    stream.addEventListener("message", (event) => {
      try {
        for (const body of this.decoder.push(event.data)) this.deliver(body)
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)))
      }
    })
    stream.addEventListener("close", (event) => this.fail(event.error ?? new Error("stream closed")))
    stream.addEventListener("remoteCloseWrite", () => this.fail(new Error("remote closed the stream")))
  }

  private deliver(body: Uint8Array): void {
    const waiter = this.waiting
    if (waiter === undefined) {
      this.ready.push(body)
      return
    }
    this.waiting = undefined
    waiter.resolve(body)
  }

  private fail(error: Error): void {
    this.failure ??= error
    const waiter = this.waiting
    this.waiting = undefined
    waiter?.reject(error)
  }

  /** Writes one framed request and resolves with the body of the next frame the remote writes. */
  async request(framed: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) throw this.failure
    if (!this.stream.send(framed)) await this.stream.onDrain()
    const next = this.ready.shift()
    if (next !== undefined) return next
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }

  /** Ends the stream politely, or aborts it when that fails. */
  async close(): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(2_000) })
    } catch {
      this.stream.abort(new Error("bench exchange over"))
    }
  }
}
