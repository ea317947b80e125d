import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { DecodeError } from "../src/errors.js"
import { formatRfc3339Nano, makeRecord, parseRfc3339, recordFromWire, recordToWire } from "../src/record/record.js"
import { decodeMessage, encodeMessage, MessageType } from "../src/wire/codec.js"

const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)

// RFC 3339 has four-digit years, so the round trip is claimed for 0000..9999 only
const rfcDate = fc.date({
  min: new Date("0000-01-01T00:00:00.000Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
  noInvalidDate: true
})

const bytes = (minLength: number, maxLength: number) =>
  fc.uint8Array({ minLength, maxLength }).map((b) => b as Uint8Array<ArrayBuffer>)

const fallback = new Date("2000-01-01T00:00:00.000Z")

const timeOf = (timeReceived: string | undefined): Date =>
  Either.getOrThrow(recordFromWire({ key: utf8("/v/k"), value: utf8("v"), timeReceived }, fallback)).timeReceived

describe("record wire form", () => {
  it.prop("recordFromWire(recordToWire(r)) = r", [bytes(1, 100), bytes(0, 300), rfcDate], ([key, value, at]) => {
    const record = makeRecord(key, value, at)
    const back = Either.getOrThrow(recordFromWire(recordToWire(record), fallback))
    expect(back.key).toEqual(key)
    expect(back.value).toEqual(value)
    expect(back.timeReceived.getTime()).toBe(at.getTime())
  })

  it.prop(
    "survives a trip through a PUT_VALUE message",
    [bytes(1, 100), bytes(0, 300), rfcDate],
    ([key, value, at]) => {
      const bytes = encodeMessage({
        type: MessageType.PUT_VALUE,
        key,
        record: recordToWire(makeRecord(key, value, at))
      })
      const message = Either.getOrThrow(decodeMessage(bytes))
      const record = Either.getOrThrow(recordFromWire(message.record ?? {}, fallback))
      expect(record).toEqual({ key, value, timeReceived: at })
    }
  )

  it("writes timeReceived as RFC 3339 with nine fractional digits in UTC", () => {
    const wire = recordToWire(makeRecord(utf8("/v/k"), utf8("v"), new Date("2024-05-01T12:34:56.789Z")))
    expect(wire.timeReceived).toBe("2024-05-01T12:34:56.789000000Z")
    expect(formatRfc3339Nano(new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 5)))).toBe("1999-12-31T23:59:59.005000000Z")
  })

  it.prop("every formatted time is RFC 3339 and parses back", [rfcDate], ([at]) => {
    const text = formatRfc3339Nano(at)
    expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/)
    expect(parseRfc3339(text)?.getTime()).toBe(at.getTime())
  })

  it("makeRecord stamps the current time by default", () => {
    const before = Date.now()
    const record = makeRecord(utf8("/v/k"), utf8("v"))
    expect(record.timeReceived.getTime()).toBeGreaterThanOrEqual(before)
    expect(record.timeReceived.getTime()).toBeLessThanOrEqual(Date.now())
  })
})

describe("reading timeReceived", () => {
  it("accepts the RFC 3339 forms go and js peers write", () => {
    // js-libp2p: nine digits; go RFC3339Nano: trailing zeros trimmed, fraction dropped when zero
    expect(timeOf("2024-05-01T12:34:56.789000000Z").toISOString()).toBe("2024-05-01T12:34:56.789Z")
    expect(timeOf("2024-05-01T12:34:56.5Z").toISOString()).toBe("2024-05-01T12:34:56.500Z")
    expect(timeOf("2024-05-01T12:34:56Z").toISOString()).toBe("2024-05-01T12:34:56.000Z")
    expect(timeOf("2024-05-01T12:34:56.123456789Z").toISOString()).toBe("2024-05-01T12:34:56.123Z")
  })

  it("applies numeric offsets and accepts the lowercase and space forms RFC 3339 allows", () => {
    expect(timeOf("2024-05-01T14:34:56+02:00").toISOString()).toBe("2024-05-01T12:34:56.000Z")
    expect(timeOf("2024-05-01T07:04:56.25-05:30").toISOString()).toBe("2024-05-01T12:34:56.250Z")
    expect(timeOf("2024-05-01t12:34:56z").toISOString()).toBe("2024-05-01T12:34:56.000Z")
    expect(timeOf("2024-05-01 12:34:56Z").toISOString()).toBe("2024-05-01T12:34:56.000Z")
  })

  it("falls back for a missing, empty or non-RFC 3339 timeReceived", () => {
    for (const text of [
      undefined,
      "",
      "2024",
      "2024-05-01",
      "May 1, 2024 12:34:56",
      "2024-05-01T12:34:56",
      "2024-13-01T00:00:00Z",
      "2024-05-01T12:34:56.789000000Z trailing",
      "1714566896789"
    ]) {
      expect(timeOf(text)).toBe(fallback)
    }
  })

  it("falls back to now when no fallback is given", () => {
    const before = Date.now()
    const record = Either.getOrThrow(recordFromWire({ key: utf8("/v/k"), value: utf8("v") }))
    expect(record.timeReceived.getTime()).toBeGreaterThanOrEqual(before)
  })
})

describe("malformed wire records", () => {
  const expectDecodeError = (result: Either.Either<unknown, DecodeError>, reason: string) => {
    if (Either.isRight(result)) throw new Error("expected a DecodeError")
    expect(result.left).toBeInstanceOf(DecodeError)
    expect(result.left.reason).toBe(reason)
  }

  it("refuses a record without a key, or with an empty one", () => {
    expectDecodeError(recordFromWire({ value: utf8("v") }), "record has no key")
    expectDecodeError(recordFromWire({ key: new Uint8Array(0), value: utf8("v") }), "record has no key")
  })

  it("refuses a record without a value", () => {
    expectDecodeError(recordFromWire({ key: utf8("/v/k") }), "record has no value")
    expectDecodeError(
      recordFromWire({ key: utf8("/v/k"), timeReceived: "2024-05-01T12:34:56Z" }),
      "record has no value"
    )
  })

  it("accepts an empty value: absence and emptiness are different on the wire", () => {
    const record = Either.getOrThrow(recordFromWire({ key: utf8("/v/k"), value: new Uint8Array(0) }, fallback))
    expect(record.value.byteLength).toBe(0)
  })
})
