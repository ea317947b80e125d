/**
 * Hostile bytes against the message decoder and the frame decoder: random
 * input, mutated encodings of random messages, forged length prefixes and
 * abusive repeated fields. Neither decoder may throw anything but its own
 * typed refusal, and neither may hold more than its input and limits allow.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  DECODE_LIMITS,
  decodeMessage,
  encodeMessage,
  FrameDecoder,
  frame,
  MAX_MESSAGE_SIZE,
  type Message,
  MessageTooLargeError,
  MessageType
} from "@effect-kad/core"
import { generatePeerIds } from "@effect-kad/routing"
import { Effect } from "effect"
import fc from "fast-check"
import { varint } from "../support/varint.js"
import { concat, decodeChecked, hostileBytesArb, messageArb } from "./support/messages.js"
import { report } from "./support/report.js"

const peers = await Effect.runPromise(generatePeerIds(6))

/** A message field tag: field number and wire type 2 (length-delimited). */
const tag = (field: number) => (field << 3) | 2

describe("message decoder under hostile input", () => {
  it("random and mutated bytes: decodeMessage returns a value or a DecodeError, never throws, never over-allocates", () => {
    let tried = 0
    let refused = 0
    fc.assert(
      fc.property(hostileBytesArb(peers), (bytes) => {
        tried++
        if (decodeChecked(bytes) === undefined) refused++
      }),
      { numRuns: 3000 }
    )
    report("decoder: hostile inputs", { tried, refused, accepted: tried - refused })
    // both outcomes must have been exercised, or the generator is not hostile enough to mean anything
    expect(refused).toBeGreaterThan(tried / 10)
    expect(tried - refused).toBeGreaterThan(tried / 10)
  })

  it("whatever it accepts re-encodes within the frame limit and decodes to the same message", () => {
    fc.assert(
      fc.property(hostileBytesArb(peers), (bytes) => {
        const first = decodeChecked(bytes)
        if (first === undefined) return
        const again = encodeMessage(first)
        expect(again.byteLength).toBeLessThanOrEqual(Math.max(bytes.byteLength, 2) + 16)
        const second = decodeChecked(again)
        expect(second).toEqual(first)
      }),
      { numRuns: 1200 }
    )
  })

  it("valid messages survive the round trip unchanged", () => {
    fc.assert(
      fc.property(messageArb(peers), (message) => {
        const decoded = decodeMessage(encodeMessage(message))
        const limited =
          message.closerPeers.every((p) => p.addrs.length <= DECODE_LIMITS.addrs) &&
          message.providerPeers.every((p) => p.addrs.length <= DECODE_LIMITS.addrs)
        expect(decoded._tag).toBe(limited ? "Right" : "Left")
      }),
      { numRuns: 1000 }
    )
  })

  it("a million empty closerPeers are refused at the limit, not materialised", () => {
    const entry = Uint8Array.of(tag(8), 0)
    const bytes = new Uint8Array(entry.byteLength * 1_000_000)
    for (let i = 0; i < bytes.byteLength; i += 2) bytes.set(entry, i)
    const result = decodeMessage(bytes)
    expect(result._tag).toBe("Left")
  })

  it("provider peers and addresses are bounded exactly at the decode limits", () => {
    const id = peers[0].toMultihash().bytes as Uint8Array<ArrayBuffer>
    const withProviders = (n: number): Message => ({
      type: MessageType.GET_PROVIDERS,
      closerPeers: [],
      providerPeers: Array.from({ length: n }, () => ({ id, addrs: [] }))
    })
    expect(decodeMessage(encodeMessage(withProviders(DECODE_LIMITS.providerPeers)))._tag).toBe("Right")
    expect(decodeMessage(encodeMessage(withProviders(DECODE_LIMITS.providerPeers + 1)))._tag).toBe("Left")
    const addr = Uint8Array.of(4, 127, 0, 0, 1) as Uint8Array<ArrayBuffer>
    const withAddrs = (n: number): Message => ({
      type: MessageType.FIND_NODE,
      closerPeers: [{ id, addrs: Array.from({ length: n }, () => addr) }],
      providerPeers: []
    })
    expect(decodeMessage(encodeMessage(withAddrs(DECODE_LIMITS.addrs)))._tag).toBe("Right")
    expect(decodeMessage(encodeMessage(withAddrs(DECODE_LIMITS.addrs + 1)))._tag).toBe("Left")
  })

  it("forged field lengths beyond the input are refused", () => {
    for (const length of [64, 2 ** 21, 2 ** 31 - 1, 2 ** 32 - 1]) {
      for (const field of [2, 3, 8, 9]) {
        const bytes = concat(Uint8Array.of(tag(field)), varint(length), new Uint8Array(10))
        expect(decodeMessage(bytes)._tag, `field ${field}, length ${length}`).toBe("Left")
      }
    }
  })

  // Known divergence: protons-runtime reads a length varint into 32 bits, so a
  // declared length of 2^32 + 1 is taken as 1 and the message decodes as
  // something the sender never wrote; go-libp2p-kad-dht reads 64 bits and
  // refuses it. Nothing is over-allocated (the test above still holds), but
  // the decoder should refuse lengths of 2^32 and more. Remove `.fails` once it does.
  it.fails("field lengths of 2^32 and more are refused, not truncated to 32 bits", () => {
    for (const length of [2 ** 32, 2 ** 32 + 1, 2 ** 49]) {
      for (const field of [2, 3, 8, 9]) {
        const bytes = concat(Uint8Array.of(tag(field)), varint(length), new Uint8Array(10))
        expect(decodeMessage(bytes)._tag, `field ${field}, length ${length}`).toBe("Left")
      }
    }
  })
})

describe("frame decoder under hostile input", () => {
  it("any split of a stream of frames yields exactly those frames", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
        (bodies, cuts) => {
          const stream = concat(...bodies.map(frame))
          const decoder = new FrameDecoder()
          const out: Array<Uint8Array> = []
          let offset = 0
          let c = 0
          while (offset < stream.byteLength) {
            const size = cuts[c++ % cuts.length]
            out.push(...decoder.push(stream.subarray(offset, offset + size)))
            offset += size
          }
          expect(out.map((b) => [...b])).toEqual(bodies.map((b) => [...b]))
          expect(decoder.buffered).toBe(0)
          expect(decoder.inFrame).toBe(false)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("random bytes in random chunks: only MessageTooLargeError, and never more buffered than one frame", () => {
    const maxSize = 1024
    let refusals = 0
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 12 }), (chunks) => {
        const decoder = new FrameDecoder(maxSize)
        for (const chunk of chunks) {
          try {
            for (const body of decoder.push(chunk)) expect(body.byteLength).toBeLessThanOrEqual(maxSize)
          } catch (error) {
            expect(error).toBeInstanceOf(MessageTooLargeError)
            refusals++
            return
          }
          // a declared body of at most maxSize, plus the prefix of the frame after it, plus one chunk
          expect(decoder.buffered).toBeLessThanOrEqual(maxSize + 5 + 600)
        }
      }),
      { numRuns: 3000 }
    )
    expect(refusals).toBeGreaterThan(0)
  })

  it("an oversized frame is refused as soon as its length prefix is complete, before any body byte", () => {
    const decoder = new FrameDecoder(MAX_MESSAGE_SIZE)
    const prefix = varint(MAX_MESSAGE_SIZE + 1)
    // all but the last prefix byte: still waiting
    expect(decoder.push(prefix.subarray(0, prefix.byteLength - 1))).toEqual([])
    expect(() => decoder.push(prefix.subarray(prefix.byteLength - 1))).toThrow(MessageTooLargeError)
    expect(decoder.buffered).toBeLessThanOrEqual(5)
    // a prefix that never ends (continuation bits forever) is refused after five bytes
    const endless = new FrameDecoder(MAX_MESSAGE_SIZE)
    expect(() => endless.push(new Uint8Array(6).fill(0xff))).toThrow(MessageTooLargeError)
  })

  it("a frame of exactly the limit is accepted", () => {
    const body = new Uint8Array(MAX_MESSAGE_SIZE).fill(7)
    const [out] = new FrameDecoder(MAX_MESSAGE_SIZE).push(frame(body))
    expect(out.byteLength).toBe(MAX_MESSAGE_SIZE)
  })
})
