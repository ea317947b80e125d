import { describe, expect, it } from "@effect/vitest"
import { asKadId, commonPrefixLength, kadIdOfKey } from "@effect-kad/core"
import { peerIdFromMultihash } from "@libp2p/peer-id"
import { Cause, Effect, Exit, FastCheck as fc } from "effect"
import * as Digest from "multiformats/hashes/digest"
import { MAX_CPL_FOR_REFRESH, randomKeyForCpl, sampleKeyForCpl } from "../src/internal/refresh/keys.js"

const kadId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(asKadId)

describe("bucket refresh keys", () => {
  it.effect.prop(
    "a key for bucket cpl hashes into exactly that bucket and is a well-formed peer ID",
    [kadId, fc.integer({ min: 0, max: 10 })],
    ([local, cpl]) =>
      Effect.gen(function* () {
        const key = yield* randomKeyForCpl(local, cpl)
        expect(commonPrefixLength(kadIdOfKey(key), local)).toBe(cpl)
        const peer = peerIdFromMultihash(Digest.decode(key))
        expect(peer.toMultihash().bytes).toEqual(key)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("reaches the deepest refreshed bucket and refuses deeper ones", () =>
    Effect.gen(function* () {
      const local = asKadId(crypto.getRandomValues(new Uint8Array(32)))
      const deepest = yield* randomKeyForCpl(local, MAX_CPL_FOR_REFRESH)
      expect(commonPrefixLength(kadIdOfKey(deepest), local)).toBe(MAX_CPL_FOR_REFRESH)
      const exit = yield* Effect.exit(randomKeyForCpl(local, MAX_CPL_FOR_REFRESH + 1))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const negative = yield* Effect.exit(randomKeyForCpl(local, -1))
      expect(Exit.isFailure(negative) && Cause.isDie(negative.cause)).toBe(true)
    })
  )

  it("gives up after the attempts it was allowed", () => {
    const local = asKadId(new Uint8Array(32))
    // bucket 200 needs ~2^201 attempts: 100 never suffice
    expect(sampleKeyForCpl(local, 200, 100)).toBeUndefined()
    expect(() => sampleKeyForCpl(local, 256, 1)).toThrow(RangeError)
  })
})
