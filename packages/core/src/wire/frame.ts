/**
 * Unsigned-varint length framing, as every /ipfs/kad/1.0.0 message is sent.
 *
 * The decoder is incremental (feed it chunks as they arrive) and checks the
 * declared length against the limit as soon as the prefix is complete, so an
 * oversized frame is refused before a byte of its body is buffered.
 *
 * @module
 */
import * as varint from "uint8-varint"
import { Uint8ArrayList } from "uint8arraylist"
import { MessageTooLargeError } from "../errors.js"
import { MAX_MESSAGE_SIZE } from "./codec.js"

/** Prefixes `body` with its length as an unsigned varint. */
export const frame = (body: Uint8Array): Uint8Array => {
  const prefixLength = varint.encodingLength(body.byteLength)
  const out = new Uint8Array(prefixLength + body.byteLength)
  varint.encodeUint8Array(body.byteLength, out, 0)
  out.set(body, prefixLength)
  return out
}

/** Longest prefix a frame under 2^35 bytes can have; anything longer is refused outright. */
const MAX_PREFIX_BYTES = 5

/**
 * Splits a byte stream into frames.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder()
 * for await (const chunk of stream) {
 *   for (const body of decoder.push(chunk)) handle(body)
 * }
 * ```
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private expected = -1

  constructor(readonly maxSize: number = MAX_MESSAGE_SIZE) {}

  /** Bytes received but not yet returned as part of a frame. */
  get buffered(): number {
    return this.buffer.byteLength
  }

  /** True when a frame has started (prefix or part of a body) but is not complete. */
  get inFrame(): boolean {
    // after a complete prefix the buffer may be empty while the body is still owed
    return this.expected >= 0 || this.buffer.byteLength > 0
  }

  /**
   * Adds a chunk and returns every frame body it completes.
   *
   * @throws MessageTooLargeError when a declared length exceeds `maxSize`.
   */
  push(chunk: Uint8Array | Uint8ArrayList): Array<Uint8Array> {
    this.buffer.append(chunk)
    const frames: Array<Uint8Array> = []
    for (;;) {
      if (this.expected < 0) {
        const length = this.readPrefix()
        if (length < 0) return frames
        this.expected = length
      }
      if (this.buffer.byteLength < this.expected) return frames
      frames.push(this.buffer.subarray(0, this.expected))
      this.buffer.consume(this.expected)
      this.expected = -1
    }
  }

  /** Decodes the length prefix if it is complete: the length, or -1 when more bytes are needed. */
  private readPrefix(): number {
    const available = Math.min(this.buffer.byteLength, MAX_PREFIX_BYTES)
    let end = -1
    for (let i = 0; i < available; i++) {
      if ((this.buffer.get(i) & 0x80) === 0) {
        end = i
        break
      }
    }
    if (end < 0) {
      if (this.buffer.byteLength >= MAX_PREFIX_BYTES) {
        throw new MessageTooLargeError({ size: Number.POSITIVE_INFINITY, limit: this.maxSize })
      }
      return -1
    }
    const length = varint.decodeUint8ArrayList(this.buffer, 0)
    if (length > this.maxSize) {
      throw new MessageTooLargeError({ size: length, limit: this.maxSize })
    }
    this.buffer.consume(end + 1)
    return length
  }
}
