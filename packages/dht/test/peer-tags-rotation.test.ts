/**
 * The close tags follow the routing table: with more peers than
 * `closeCount`, only the nearest carry `kad-close`, a nearer newcomer takes
 * the tag from the farthest of them, a removed peer loses its tags, and
 * nothing stays tagged once the layer's scope closes.
 */
import { describe, expect, it } from "@effect/vitest"
import { compareDistance, kadIdOfPeer } from "@effect-kad/core"
import { RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { Peer, PeerData, PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, Exit, Layer, Scope } from "effect"
import { PeerTags } from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

/** A peer store that only keeps tags, merged as libp2p's does (an undefined tag is removed). */
const recordingPeerStore = () => {
  const tags = new Map<string, Map<string, number>>()
  return {
    tags,
    tagged: (name: string) =>
      [...tags]
        .filter(([, t]) => t.has(name))
        .map(([peer]) => peer)
        .sort(),
    get: async (): Promise<Peer> => Promise.reject(new Error("not used")),
    merge: async (peer: PeerId, data: PeerData): Promise<Peer> => {
      const current = tags.get(peer.toString()) ?? new Map<string, number>()
      for (const [name, tag] of Object.entries(data.tags ?? {})) {
        if (tag === undefined) current.delete(name)
        else current.set(name, tag.value ?? 0)
      }
      tags.set(peer.toString(), current)
      return {} as Peer
    }
  }
}

describe("connection-manager tags as the table changes", () => {
  it.scopedLive("kad-close moves to the nearest peers, tags leave removed peers and a stopped DHT", () =>
    Effect.gen(function* () {
      const self = yield* newPeerId
      const peers = yield* Effect.forEach(Array.from({ length: 6 }), () => newPeerId)
      const byDistance = [...peers].sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), kadIdOfPeer(self)))
      const names = (ids: ReadonlyArray<PeerId>) => ids.map(String).sort()
      const store = recordingPeerStore()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        PeerTags.layer(store, { closeCount: 2 }).pipe(
          Layer.provideMerge(RoutingTable.layer({ self, isAlive: () => Effect.succeed(true) }))
        ),
        scope
      )
      const table = Effect.provide(RoutingTable, context)
      /** Tags are written from the table's event stream: poll, bounded. */
      const settled = (check: () => boolean) =>
        Effect.gen(function* () {
          for (let i = 0; i < 200 && !check(); i++) yield* Effect.sleep(10)
        })
      const same = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => JSON.stringify(a) === JSON.stringify(b)

      // the farthest four first: two of them are the closest the table holds
      for (const id of byDistance.slice(2)) yield* Effect.flatMap(table, (t) => t.tryAdd({ id, multiaddrs: [] }))
      yield* settled(() => same(store.tagged(PeerTags.KAD_CLOSE_TAG), names(byDistance.slice(2, 4))))
      expect(store.tagged(PeerTags.KAD_PEER_TAG)).toEqual(names(byDistance.slice(2)))
      expect(store.tagged(PeerTags.KAD_CLOSE_TAG)).toEqual(names(byDistance.slice(2, 4)))
      expect(store.tagged(PeerTags.KAD_KEEP_ALIVE_TAG)).toEqual(names(byDistance.slice(2, 4)))

      // the two nearest arrive: they take kad-close and keep-alive from the others
      for (const id of byDistance.slice(0, 2)) yield* Effect.flatMap(table, (t) => t.tryAdd({ id, multiaddrs: [] }))
      yield* settled(() => same(store.tagged(PeerTags.KAD_CLOSE_TAG), names(byDistance.slice(0, 2))))
      expect(store.tagged(PeerTags.KAD_CLOSE_TAG)).toEqual(names(byDistance.slice(0, 2)))
      expect(store.tagged(PeerTags.KAD_KEEP_ALIVE_TAG)).toEqual(names(byDistance.slice(0, 2)))
      expect(store.tagged(PeerTags.KAD_PEER_TAG)).toEqual(names(byDistance))
      expect(store.tags.get(byDistance[0]!.toString())?.get(PeerTags.KAD_CLOSE_TAG)).toBe(PeerTags.KAD_CLOSE_TAG_VALUE)

      // the nearest leaves the table: it loses every tag, the next nearest is close now
      yield* Effect.flatMap(table, (t) => t.remove(byDistance[0]!))
      yield* settled(() => same(store.tagged(PeerTags.KAD_CLOSE_TAG), names(byDistance.slice(1, 3))))
      expect(store.tagged(PeerTags.KAD_CLOSE_TAG)).toEqual(names(byDistance.slice(1, 3)))
      expect(store.tags.get(byDistance[0]!.toString())?.size).toBe(0)

      // the DHT stops: nothing it tagged keeps a tag
      yield* Scope.close(scope, Exit.void)
      expect([...store.tags.values()].every((t) => t.size === 0)).toBe(true)
    })
  )
})
