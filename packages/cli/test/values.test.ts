import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  CLI_NAMESPACE,
  cliNodeValidator,
  cliValidator,
  closestKey,
  decodeCliValue,
  dhtKeyFor,
  encodeCliValue,
  MAX_CLI_VALUE_BYTES,
  showValue
} from "../src/index.js"

const encoder = new TextEncoder()
const key = encoder.encode("/cli/k")
const namespaces = ["cli", "pk", "ipns"]

describe("the /cli/ validator", () => {
  it("accepts any value up to 10 KiB, JSON or not, and refuses a larger one", async () => {
    await cliValidator.validate(key, new Uint8Array(MAX_CLI_VALUE_BYTES))
    await cliValidator.validate(key, encoder.encode("not json"))
    expect(() => cliValidator.validate(key, new Uint8Array(MAX_CLI_VALUE_BYTES + 1))).toThrow(/at most 10240 bytes/)
  })

  it.prop(
    "selects the value with the newest timestamp, the first of equals, and never one without a timestamp over one with",
    [fc.array(fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: undefined }), { minLength: 2, maxLength: 12 })],
    ([stamps]) => {
      const values = stamps.map((t, i) => (t === undefined ? encoder.encode(`raw ${i}`) : encodeCliValue(`v${i}`, t)))
      const chosen = cliValidator.select(key, values) as number
      const known = stamps.flatMap((t) => (t === undefined ? [] : [t]))
      if (known.length === 0) {
        expect(chosen).toBe(0)
      } else {
        const newest = Math.max(...known)
        expect(chosen).toBe(stamps.indexOf(newest))
      }
    }
  )

  it("is registered beside /pk and /ipns on every CLI node", async () => {
    const validator = cliNodeValidator()
    expect(validator.namespaces().sort()).toEqual(["cli", "ipns", "pk"])
    await validator.validate(key, encodeCliValue("x", 1))
    await expect(
      Promise.resolve().then(() => validator.validate(encoder.encode("/other/k"), new Uint8Array(1)))
    ).rejects.toThrow(/no validator for namespace 'other'/)
  })
})

describe("keys and values on the command line", () => {
  it("puts keys under /cli/ unless they name a registered namespace", () => {
    expect(dhtKeyFor("greeting", namespaces)).toBe("/cli/greeting")
    expect(dhtKeyFor("/greeting", namespaces)).toBe("/cli/greeting")
    expect(dhtKeyFor("/cli/greeting", namespaces)).toBe("/cli/greeting")
    expect(dhtKeyFor("/ipns/k51abc", namespaces)).toBe("/ipns/k51abc")
    expect(dhtKeyFor("/pk/", namespaces)).toBe("/cli/pk/")
    expect(dhtKeyFor("/myapp/x", namespaces)).toBe("/cli/myapp/x")
  })

  it.prop("every /cli/ value decodes to what was encoded", [fc.string(), fc.integer({ min: 0 })], ([value, t]) => {
    expect(decodeCliValue(encodeCliValue(value, t))).toEqual({ value, t })
    expect(showValue(`/${CLI_NAMESPACE}/k`, encodeCliValue(value, t))).toEqual({
      value,
      encoding: "utf8",
      writtenAt: new Date(t).toISOString()
    })
  })

  it("shows other UTF-8 as text and anything else as base64", () => {
    expect(showValue("/cli/k", encoder.encode("plain"))).toEqual({ value: "plain", encoding: "utf8" })
    expect(showValue("/pk/k", new Uint8Array([0xff, 0xfe]))).toEqual({ value: "//4=", encoding: "base64" })
  })

  it("looks up peer IDs and CIDs by their multihash and other text as raw bytes", () => {
    const peer = closestKey("12D3KooWDQmmDMx8Ps9j4KyFkwbkNiK5J7rvZWvsBLsGK4JEeKip")
    expect(peer.kind).toBe("peer")
    const cid = closestKey("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    expect(cid.kind).toBe("cid")
    expect((cid.key as Uint8Array).byteLength).toBe(34)
    expect(closestKey("/cli/greeting")).toEqual({ key: encoder.encode("/cli/greeting"), kind: "text" })
  })
})
