import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Uint8ArrayList } from "uint8arraylist"
import { MessageTooLargeError } from "../src/errors.js"
import { MAX_MESSAGE_SIZE } from "../src/wire/codec.js"
import { FrameDecoder, frame } from "../src/wire/frame.js"

/** Reference unsigned LEB128, written out here so the framing is not checked against its own varint library. */
const varint = (value: number): Array<number> => {
  const out: Array<number> = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** Splits `bytes` at the given (unsorted, possibly repeated) cut points; empty chunks included. */
const chunk = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...cuts.map((c) => c % (bytes.byteLength + 1))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const point of points) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  chunks.push(bytes.subarray(start))
  return chunks
}

const catchTooLarge = (run: () => unknown): MessageTooLargeError => {
  try {
    run()
  } catch (error) {
    if (error instanceof MessageTooLargeError) return error
    throw error
  }
  throw new Error("expected MessageTooLargeError")
}

// bodies around the one-, two- and three-byte prefix boundaries (127/128, 16383/16384)
const body = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 16_380, max: 16_390 }).map((n) => new Uint8Array(n).fill(n & 0xff)) }
)

describe("frame", () => {
  it.prop("prefixes the body with its unsigned varint length", [body], ([b]) => {
    const framed = frame(b)
    const prefix = varint(b.byteLength)
    expect(Array.from(framed.subarray(0, prefix.length))).toEqual(prefix)
    expect(Buffer.from(framed.subarray(prefix.length)).equals(b)).toBe(true)
  })
})

describe("FrameDecoder", () => {
  it.prop(
    "splits any chunking of concatenated frames back into the same bodies",
    [fc.array(body, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean()],
    ([bodies, cuts, asLists]) => {
      const stream = concat(bodies.map(frame))
      const decoder = new FrameDecoder()
      const out: Array<Uint8Array> = []
      for (const piece of chunk(stream, cuts)) {
        out.push(...decoder.push(asLists ? new Uint8ArrayList(piece) : piece))
      }
      const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
      expect(out.map(hex)).toEqual(bodies.map(hex))
      expect(decoder.inFrame).toBe(false)
      expect(decoder.buffered).toBe(0)
    }
  )

  it.prop(
    "byte-at-a-time feeding yields each frame exactly when its last byte arrives",
    [fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 5 })],
    ([bodies]) => {
      const decoder = new FrameDecoder()
      const framed = bodies.map(frame)
      for (let f = 0; f < framed.length; f++) {
        for (let i = 0; i < framed[f].byteLength; i++) {
          const done = decoder.push(framed[f].subarray(i, i + 1))
          const last = i === framed[f].byteLength - 1
          expect(done.length).toBe(last ? 1 : 0)
          expect(decoder.inFrame).toBe(!last)
          if (last) expect(done[0]).toEqual(bodies[f])
        }
      }
    }
  )

  it("reports an open frame while only its prefix has arrived", () => {
    const decoder = new FrameDecoder()
    expect(decoder.inFrame).toBe(false)
    expect(decoder.push(Uint8Array.of(10))).toEqual([])
    expect(decoder.inFrame).toBe(true)
    expect(decoder.push(new Uint8Array(10))).toHaveLength(1)
    expect(decoder.inFrame).toBe(false)
  })

  it("returns zero-length frames", () => {
    const decoder = new FrameDecoder()
    const frames = decoder.push(Uint8Array.of(0, 0, 1, 0xaa, 0))
    expect(frames.map((f) => Array.from(f))).toEqual([[], [], [0xaa], []])
  })

  it("refuses an oversized frame as soon as its prefix is complete, before any body", () => {
    const decoder = new FrameDecoder(1000)
    const prefix = Uint8Array.from(varint(1001))
    expect(prefix.byteLength).toBe(2)
    // the first prefix byte alone is not enough to know the length
    expect(decoder.push(prefix.subarray(0, 1))).toEqual([])
    const error = catchTooLarge(() => decoder.push(prefix.subarray(1)))
    expect(error.size).toBe(1001)
    expect(error.limit).toBe(1000)
  })

  it("refuses a prefix over the default 4 MiB limit with no body sent", () => {
    const error = catchTooLarge(() => new FrameDecoder().push(Uint8Array.from(varint(MAX_MESSAGE_SIZE + 1))))
    expect(error.size).toBe(MAX_MESSAGE_SIZE + 1)
    expect(error.limit).toBe(MAX_MESSAGE_SIZE)
    // a multi-gigabyte claim is refused just the same, without allocating for it
    const huge = catchTooLarge(() => new FrameDecoder().push(Uint8Array.from(varint(2 ** 34))))
    expect(huge.size).toBe(2 ** 34)
  })

  it.prop(
    "refuses every declared length over the limit, whatever the prefix chunking",
    [fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 1, max: 2 ** 30 })],
    ([limit, excess]) => {
      const decoder = new FrameDecoder(limit)
      const prefix = varint(limit + excess)
      for (let i = 0; i < prefix.length - 1; i++) expect(decoder.push(Uint8Array.of(prefix[i]))).toEqual([])
      expect(catchTooLarge(() => decoder.push(Uint8Array.of(prefix[prefix.length - 1]))).size).toBe(limit + excess)
    }
  )

  it("refuses an unterminated prefix that would need six or more bytes", () => {
    const decoder = new FrameDecoder(2 ** 40)
    for (let i = 0; i < 4; i++) expect(decoder.push(Uint8Array.of(0x80))).toEqual([])
    // five continuation bytes mean a prefix of at least six bytes: refused without waiting for more
    const error = catchTooLarge(() => decoder.push(Uint8Array.of(0x80)))
    expect(error.size).toBe(Number.POSITIVE_INFINITY)
    expect(() => new FrameDecoder().push(new Uint8Array(6).fill(0xff))).toThrow(MessageTooLargeError)
    expect(() => new FrameDecoder().push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))).toThrow(
      MessageTooLargeError
    )
  })

  it("accepts a five-byte prefix when the limit allows it", () => {
    const decoder = new FrameDecoder(2 ** 34)
    const prefix = Uint8Array.from(varint(2 ** 30))
    expect(prefix.byteLength).toBe(5)
    expect(decoder.push(prefix)).toEqual([])
    expect(decoder.inFrame).toBe(true)
  })

  it("accepts a frame of exactly maxSize", () => {
    const small = new FrameDecoder(1000)
    const body1000 = new Uint8Array(1000).fill(7)
    expect(small.push(frame(body1000))).toEqual([body1000])

    const full = new Uint8Array(MAX_MESSAGE_SIZE).fill(0x42)
    const decoder = new FrameDecoder()
    const framed = frame(full)
    const out = [...decoder.push(framed.subarray(0, 3)), ...decoder.push(framed.subarray(3))]
    expect(out).toHaveLength(1)
    expect(out[0].byteLength).toBe(MAX_MESSAGE_SIZE)
    expect(out[0].every((b) => b === 0x42)).toBe(true)
  })
})
