/**
 * Provider records across implementations: ADD_PROVIDER written by one
 * implementation is stored by the other (checked with a raw GET_PROVIDERS),
 * and findProviders on either side returns providers announced by the
 * other, with addresses a peer can dial. Our ADD_PROVIDERs reach a js server
 * over one reused stream, which then still carries requests.
 */

import { expect, layer } from "@effect/vitest"
import { DEFAULT_PROTOCOL, Libp2pNetwork, MessageType, peerInfoFromWire, peerInfoToWire } from "@effect-kad/core"
import { Effect } from "effect"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { createLoopbackHost } from "../support/hosts.js"
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
    "our ADD_PROVIDERs to a js server share one stream, and requests after them on it read their own answers",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const server = net.js.servers[1]
        const host = yield* Effect.acquireRelease(Effect.promise(createLoopbackHost), (node) =>
          Effect.promise(async () => node.stop())
        )
        let opened = 0
        const dial = host.dialProtocol.bind(host)
        host.dialProtocol = (...args: Parameters<Libp2p["dialProtocol"]>) => {
          if (String(args[1]) === DEFAULT_PROTOCOL) opened++
          return dial(...args)
        }
        const network = yield* Libp2pNetwork.make(host)
        yield* network.rememberAddresses({ id: server.peerId, multiaddrs: server.addresses() })
        const self = peerInfoToWire(yield* network.selfInfo)
        const cids = yield* Effect.forEach(Array.from({ length: 30 }), () => randomCid())
        for (const cid of cids) {
          yield* network.send(server.peerId, {
            type: MessageType.ADD_PROVIDER,
            key: cid.multihash.bytes as Uint8Array<ArrayBuffer>,
            closerPeers: [],
            providerPeers: [self]
          })
        }
        // js handles a stream's messages one after the other, answering none of
        // the ADD_PROVIDERs: each GET_PROVIDERS reads its own answer, which
        // already holds the records written before it
        for (const cid of cids) {
          const response = yield* network.request(server.peerId, {
            type: MessageType.GET_PROVIDERS,
            key: cid.multihash.bytes as Uint8Array<ArrayBuffer>,
            closerPeers: [],
            providerPeers: []
          })
          expect(response.type).toBe(MessageType.GET_PROVIDERS)
          expect(Array.from(response.key ?? [])).toEqual(Array.from(cid.multihash.bytes))
          const ids = response.providerPeers.map((wire) => peerInfoFromWire(wire)?.id.toString())
          expect(ids).toEqual([host.peerId.toString()])
        }
        expect(opened).toBe(1)
      }).pipe(Effect.scoped),
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
