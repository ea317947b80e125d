/**
 * What announcing a region reports when a peer fails: the keys it was due
 * and never got count as undelivered, whether their send failed or was
 * skipped after the first failure to that peer.
 */
import { describe, expect, it } from "@effect/vitest"
import { kadIdOfKey, kadIdOfPeer, type NetworkShape, TransientNetworkError } from "@effect-kad/core"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, Option } from "effect"
import { announceRegion } from "../src/internal/content-routing/regions.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

describe("announceRegion", () => {
  it.effect("counts the keys a failed peer was due as undelivered, sent or skipped", () =>
    Effect.gen(function* () {
      const [self, good, bad] = yield* Effect.all([newPeerId, newPeerId, newPeerId])
      const sentTo: Array<string> = []
      const network = {
        send: (peer) =>
          Effect.suspend(() => {
            sentTo.push(peer.toString())
            return peer.equals(bad)
              ? Effect.fail(new TransientNetworkError({ peer: peer.toString(), reason: "gone" }))
              : Effect.void
          })
      } as Pick<NetworkShape, "send"> as NetworkShape
      const keys = Array.from({ length: 12 }, (_, i) => new TextEncoder().encode(`key ${i}`))
      const region = {
        prefix: kadIdOfPeer(self),
        depth: 0,
        peers: [good, bad].map((id) => ({ info: { id, multiaddrs: [] }, kadId: kadIdOfPeer(id) })),
        lookups: 1
      }
      const outcome = yield* announceRegion(
        { network, k: 20, estimator: Option.none() } as never,
        { id: self, multiaddrs: [] },
        region,
        keys.map((key) => ({ key, kadId: kadIdOfKey(key) }))
      )
      // every key is due to both peers: 24 sends due, the good peer's 12 delivered
      expect(outcome.delivered).toBe(12)
      expect(outcome.undelivered).toBe(12)
      expect(outcome.peers).toBe(2)
      // the bad peer was tried once per lane, not once per key
      const triedBad = sentTo.filter((p) => p === bad.toString()).length
      expect(triedBad).toBeLessThan(12)
      expect(outcome.messages).toBe(12 + triedBad)
    })
  )
})
