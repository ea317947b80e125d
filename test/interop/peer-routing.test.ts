/**
 * Peer routing across implementations: GET_CLOSEST_PEERS (FIND_NODE
 * lookups) and FIND_PEER, asked by each implementation and answered by a
 * network where the answer has to come through the other one.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { byDistance, idSet, randomKey, tcpPorts } from "./support/expect.js"
import { eventually, MixedNetwork, type NodePick } from "./support/network.js"
import { connect, type Impl, InteropError, startNode } from "./support/nodes.js"

/** The searchers: a server and a client of each implementation. */
const searchers: ReadonlyArray<NodePick> = [
  ["our server", (net) => net.ours.servers[1]],
  ["a js server", (net) => net.js.servers[1]],
  ["our client", (net) => net.ours.clients[0]],
  ["a js client", (net) => net.js.clients[0]]
]

const other = (impl: Impl): Impl => (impl === "ours" ? "js" : "ours")

layer(MixedNetwork.layer(), { excludeTestServices: true, timeout: "90 seconds" })("peer routing", (it) => {
  for (const [label, pick] of searchers) {
    it.effect(
      `getClosestPeers from ${label}: every live server of both kinds, no client, no self`,
      () =>
        Effect.gen(function* () {
          const net = yield* MixedNetwork
          const searcher = pick(net)
          const key = randomKey()
          const found = yield* searcher.getClosestPeers(key)
          // fewer servers than k: the k closest are all servers other than the searcher
          const expected = net.servers.filter((s) => s !== searcher).map((s) => s.peerId)
          expect(found.map(net.nameOf).sort()).toEqual(expected.map(net.nameOf).sort())
          expect(idSet(found)).toEqual(idSet(expected))
          expect(byDistance(key, found).map(String)).toEqual(byDistance(key, expected).map(String))
        }),
      30_000
    )
  }

  it.effect(
    "getClosestPeers for a peer ID key puts that peer first, whichever implementation asks",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        for (const [searcher, target] of [
          [net.ours.servers[0], net.js.servers[2]],
          [net.js.servers[0], net.ours.servers[2]]
        ] as const) {
          const found = yield* searcher.getClosestPeers(target.peerId.toMultihash().bytes)
          const ordered = byDistance(target.peerId.toMultihash().bytes, found)
          expect(ordered[0]?.equals(target.peerId)).toBe(true)
        }
      }),
    30_000
  )

  /**
   * A target that joins after the network settled, known only to one
   * anchor of the other implementation than the searcher: the searcher can
   * learn its addresses only from a FIND_NODE answer written by the other
   * implementation.
   */
  for (const [label, pick] of searchers) {
    for (const targetImpl of ["ours", "js"] as const) {
      it.effect(
        `findPeer from ${label} reaches a ${targetImpl} server known only to a node of the other implementation`,
        () =>
          Effect.gen(function* () {
            const net = yield* MixedNetwork
            const searcher = pick(net)
            const anchorImpl = other(searcher.impl)
            const anchor = anchorImpl === "ours" ? net.ours.servers[3] : net.js.servers[3]
            const target = yield* startNode(targetImpl, `late-${targetImpl}-for-${searcher.name}`, "server")
            yield* connect(target, anchor)
            yield* eventually(
              Effect.flatMap(anchor.routingTableHas(target.peerId), (has) =>
                has
                  ? Effect.void
                  : Effect.fail(
                      new InteropError({ node: anchor.name, operation: "admit late target", cause: "absent" })
                    )
              ),
              "15 seconds"
            )
            expect(yield* Effect.promise(() => searcher.host.peerStore.has(target.peerId))).toBe(false)

            const found = yield* searcher.findPeer(target.peerId)
            expect(Option.isSome(found)).toBe(true)
            const info = Option.getOrThrow(found)
            expect(info.id.equals(target.peerId)).toBe(true)
            expect(tcpPorts(info.multiaddrs)).toEqual(tcpPorts(target.addresses()))
          }).pipe(Effect.scoped),
        30_000
      )
    }
  }

  it.effect(
    "findPeer for a peer nobody knows ends empty on both implementations",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const stranger = yield* startNode("js", "stranger", "server")
        const strangerId = stranger.peerId
        for (const searcher of [net.ours.servers[0], net.js.servers[0]]) {
          expect(Option.isNone(yield* searcher.findPeer(strangerId))).toBe(true)
        }
      }).pipe(Effect.scoped),
    30_000
  )
})
