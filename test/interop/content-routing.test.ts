/**
 * Provider records across implementations: ADD_PROVIDER written by one
 * implementation is stored by the other (checked with a raw GET_PROVIDERS),
 * and findProviders on either side returns providers announced by the
 * other, with addresses a peer can dial.
 */

import { expect, layer } from "@effect/vitest"
import { MessageType, peerInfoFromWire } from "@effect-kad/core"
import { Effect } from "effect"
import type { CID } from "multiformats/cid"
import { tcpPorts } from "./support/expect.js"
import { eventually, firstOfEachKind, MixedNetwork, type MixedNetworkShape } from "./support/network.js"
import { type DhtNode, InteropError } from "./support/nodes.js"
import { rawRequest } from "./support/raw.js"
import { randomCid } from "./support/suite-helpers.js"

/** The providers a server returns to a raw GET_PROVIDERS for `cid`, as peer-ID strings with their ports. */
const storedProviders = (net: MixedNetworkShape, server: DhtNode, cid: CID) =>
  Effect.map(
    rawRequest(net.probe, server.peerId, { type: MessageType.GET_PROVIDERS, key: cid.multihash.bytes }),
    (response) =>
      response.providerPeers.flatMap((wire) => {
        const peer = peerInfoFromWire(wire)
        return peer === undefined ? [] : [{ id: peer.id.toString(), ports: tcpPorts(peer.multiaddrs) }]
      })
  )

const providers = firstOfEachKind

layer(MixedNetwork.layer(), { excludeTestServices: true, timeout: "90 seconds" })("content routing", (it) => {
  for (const [label, pick] of providers) {
    it.effect(
      `${label} provides: every server of the other implementation stores the record and every node of it finds the provider`,
      () =>
        Effect.gen(function* () {
          const net = yield* MixedNetwork
          const provider = pick(net)
          const cid = yield* randomCid()
          yield* provider.provide(cid)

          const otherImpl = provider.impl === "ours" ? net.js : net.ours
          const expected = { id: provider.peerId.toString(), ports: tcpPorts(provider.addresses()) }
          // fewer servers than k: the provide reaches every server, including those of the other implementation
          for (const server of otherImpl.servers) {
            yield* eventually(
              Effect.flatMap(storedProviders(net, server, cid), (stored) =>
                stored.some((p) => p.id === expected.id && p.ports.join() === expected.ports.join())
                  ? Effect.void
                  : Effect.fail(
                      new InteropError({
                        node: server.name,
                        operation: "store provider",
                        cause: `GET_PROVIDERS answered ${JSON.stringify(stored)}`
                      })
                    )
              ),
              "10 seconds"
            )
          }
          for (const finder of [...otherImpl.servers, ...otherImpl.clients]) {
            const found = yield* finder.findProviders(cid)
            const match = found.find((p) => p.id.equals(provider.peerId))
            expect(match, `${finder.name} finds ${provider.name}`).toBeDefined()
            expect(tcpPorts(match?.multiaddrs ?? [])).toEqual(expected.ports)
          }
        }),
      60_000
    )
  }

  it.effect(
    "a CID provided by one node of each implementation: both implementations return both providers",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const cid = yield* randomCid()
        const pair = [net.ours.servers[4], net.js.servers[4]]
        yield* Effect.forEach(pair, (p) => p.provide(cid), { discard: true })
        for (const finder of [net.ours.servers[2], net.js.servers[2], net.ours.clients[0], net.js.clients[0]]) {
          const found = yield* finder.findProviders(cid)
          const ids = found.map((p) => p.id.toString())
          expect(ids, finder.name).toEqual(expect.arrayContaining(pair.map((p) => p.peerId.toString())))
        }
      }),
    60_000
  )

  it.effect(
    "a CID nobody provides: findProviders ends with no providers on both implementations",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const cid = yield* randomCid()
        for (const finder of [net.ours.servers[3], net.js.servers[3]]) {
          expect(yield* finder.findProviders(cid), finder.name).toEqual([])
        }
      }),
    60_000
  )
})
