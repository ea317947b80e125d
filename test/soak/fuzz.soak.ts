/**
 * Long fuzzing: the coverage-guided fuzzer on the message and frame
 * decoders, then fast-check at a hundred thousand decoder inputs, thirty
 * thousand handler requests and two thousand fuzzed loopback streams.
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeMessage, FrameDecoder, MessageTooLargeError } from "@effect-kad/core"
import { generatePeerIds } from "@effect-kad/routing"
import { Effect } from "effect"
import fc from "fast-check"
import { fuzzHandlers } from "../reliability/support/handler-fuzz.js"
import { decodeChecked, hostileBytesArb, messageArb } from "../reliability/support/messages.js"
import { report } from "../reliability/support/report.js"
import { fuzzStreams } from "../reliability/support/stream-fuzz.js"
import { coverageGuidedFuzz } from "./support/coverage-fuzzer.js"

const seconds = (name: string, fallback: number) => Number(process.env[name] ?? fallback) * 1000

const peers = await Effect.runPromise(generatePeerIds(6))

describe("soak: fuzzing", () => {
  it("coverage-guided fuzzing of decodeMessage and FrameDecoder finds no crash", async () => {
    const seeds = fc.sample(messageArb(peers), 64).map((m) => encodeMessage(m))
    const figures = await coverageGuidedFuzz({
      seeds,
      target: (input) => {
        decodeChecked(input)
        const decoder = new FrameDecoder(64 * 1024)
        try {
          const cut = input.byteLength >> 1
          decoder.push(input.subarray(0, cut))
          for (const body of decoder.push(input.subarray(cut))) decodeChecked(body)
        } catch (error) {
          if (!(error instanceof MessageTooLargeError)) throw error
        }
      },
      watch: (url) =>
        url.includes("/packages/core/src/wire/") ||
        url.includes("protons-runtime") ||
        url.includes("uint8-varint") ||
        url.includes("uint8arraylist"),
      maxInputs: 2_000_000,
      maxMillis: seconds("SOAK_FUZZ_SECONDS", 180)
    })
    report("soak fuzz: coverage-guided decoder", { ...figures })
    expect(figures.blocks).toBeGreaterThan(50)
    expect(figures.corpus).toBeGreaterThan(seeds.length / 4)
    expect(figures.firstCrashes).toEqual([])
  })

  it("100 000 random and mutated inputs to decodeMessage", () => {
    let refused = 0
    fc.assert(
      fc.property(hostileBytesArb(peers), (bytes) => {
        if (decodeChecked(bytes) === undefined) refused++
      }),
      { numRuns: 100_000 }
    )
    report("soak fuzz: decoder", { tried: 100_000, refused, accepted: 100_000 - refused })
  })

  it.scopedLive("30 000 hostile requests to every handler", () => fuzzHandlers(30_000))

  it("2000 fuzzed streams against a loopback server", async () => {
    const figures = await fuzzStreams(2_000, 25)
    report("soak fuzz: streams", { ...figures })
    expect(figures.gaveUp).toBe(0)
    expect(figures.leftServed).toBe(0)
    expect(figures.probesAnswered).toBe(figures.probes)
  })
})
