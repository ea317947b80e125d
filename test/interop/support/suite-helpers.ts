/**
 * Helpers, constants and malformed-frame cases shared by the interop
 * suites: the go and rust suites (one three-way network each) use all of
 * them; the four-way, malformed-message and content-routing suites use the
 * ones that are not tied to a three-way network.
 *
 * @module
 */
import { frame, MessageType, peerInfoFromWire, type Validator } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { Effect } from "effect"
import { CID } from "multiformats/cid"
import { sha256 } from "multiformats/hashes/sha2"
import { varint } from "../../support/varint.js"
import { byDistance, randomKey, tcpPorts } from "./expect.js"
import type { ThreeWayNetworkShape, ThreeWayNode } from "./external-network.js"
import type { ExternalImpl } from "./external-peer.js"
import { eventually } from "./network.js"
import { InteropError } from "./nodes.js"
import { rawRequest } from "./raw.js"
import { testKey } from "./validator.js"

/** Kademlia's bucket size k, which every implementation under test uses: lookups answer this many peers. */
export const K = 20

/** One mebibyte, for the frame-size limits the malformed cases cross. */
export const MiB = 1024 * 1024

/** The multicodec of raw bytes, so random CIDs need no real content. */
const RAW_CODEC = 0x55

/** A node of a three-way network, picked by label. */
export type ThreeWayPick = readonly [label: string, pick: (net: ThreeWayNetworkShape) => ThreeWayNode]

/** Where operations start from: the first server and the client of each implementation, with `impl` the external one. */
export const firstOfEachKindWith = (impl: ExternalImpl): ReadonlyArray<ThreeWayPick> => [
  ["our server", (net) => net.ours.servers[0]],
  ["our client", (net) => net.ours.clients[0]],
  ["a js server", (net) => net.js.servers[0]],
  ["a js client", (net) => net.js.clients[0]],
  [`a ${impl} server`, (net) => net.external.servers[0]],
  [`the ${impl} client`, (net) => net.external.clients[0]]
]

/** The nodes that must see what `node` did: the external ones for ours and js, ours and js for the external ones. */
export const counterparts = (net: ThreeWayNetworkShape, node: ThreeWayNode): ReadonlyArray<ThreeWayNode> =>
  node.impl === net.impl
    ? [...net.ours.servers, ...net.ours.clients, ...net.js.servers, ...net.js.clients]
    : [...net.external.servers, ...net.external.clients]

/** The k servers closest to `key` (other than `except`), by XOR distance computed here. */
export const closestServers = (net: ThreeWayNetworkShape, key: Uint8Array, except?: ThreeWayNode) => {
  const ids = byDistance(
    key,
    net.servers.filter((s) => s !== except).map((s) => s.peerId)
  ).slice(0, K)
  const wanted = new Set(ids.map(String))
  return net.servers.filter((s) => wanted.has(s.peerId.toString()))
}

/** A maker of keys no other test uses, each starting with `prefix` so a suite's keys are recognisable. */
export const freshKeys = (prefix: string) => {
  let keys = 0
  return (label: string) => testKey(`${prefix}-${label.replaceAll(" ", "-")}-${Date.now()}-${keys++}`)
}

/** A CID of random bytes, so every provider test announces content nobody else has. */
export const randomCid = () => Effect.promise(async () => CID.createV1(RAW_CODEC, await sha256.digest(randomKey())))

/** Waits until `server` answers a raw GET_PROVIDERS for `cid` with `provider` at its ports. */
export const expectProviderStored = (
  net: ThreeWayNetworkShape,
  server: ThreeWayNode,
  cid: CID,
  provider: ThreeWayNode
) =>
  eventually(
    Effect.flatMap(
      rawRequest(net.probe, server.peerId, { type: MessageType.GET_PROVIDERS, key: cid.multihash.bytes }),
      (response) => {
        const stored = response.providerPeers.flatMap((wire) => {
          const peer = peerInfoFromWire(wire)
          return peer === undefined ? [] : [{ id: peer.id.toString(), ports: tcpPorts(peer.multiaddrs).join() }]
        })
        const ports = tcpPorts(provider.addresses()).join()
        return stored.some((p) => p.id === provider.peerId.toString() && p.ports === ports)
          ? Effect.void
          : Effect.fail(
              new InteropError({
                node: server.name,
                operation: "store provider",
                cause: `GET_PROVIDERS answered ${JSON.stringify(stored)}`
              })
            )
      }
    ),
    "10 seconds"
  )

/** Waits until `anchor` has `peer` in its routing table. */
export const admitted = (anchor: ThreeWayNode, peer: PeerId) =>
  eventually(
    Effect.flatMap(anchor.routingTableHas(peer), (has) =>
      has ? Effect.void : Effect.fail(new InteropError({ node: anchor.name, operation: "admit", cause: "absent" }))
    ),
    "15 seconds"
  )

/** What our validator says of a record: undefined when accepted, the reason otherwise. */
export const ourVerdict = (validator: Validator, key: Uint8Array, value: Uint8Array) =>
  Effect.promise(async () => {
    try {
      await validator.validate(key, value)
      return undefined
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  })

/** The value and length of the varint at the start of `bytes`. */
export const readVarint = (bytes: Uint8Array): readonly [value: number, length: number] => {
  let value = 0
  for (let i = 0; i < Math.min(bytes.length, 5); i++) {
    value += (bytes[i] & 0x7f) * 2 ** (7 * i)
    if ((bytes[i] & 0x80) === 0) return [value, i + 1]
  }
  return [-1, 0]
}

/** Cases that break the framing: the receiver cannot find where a message ends. */
export const framing: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["a 5 MiB length prefix", Uint8Array.from([...varint(5 * MiB), 1, 2, 3, 4])],
  ["a length prefix of 4 MiB + 1", varint(4 * MiB + 1)],
  ["an unterminated varint", new Uint8Array(11).fill(0xff)]
]

/** Cases with sound framing whose body is not a DHT message. */
export const decoding: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["garbage protobuf", frame(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f))],
  ["a field longer than the frame", frame(Uint8Array.of(0x12, 0x10, 0x01))],
  ["an unknown message type", frame(Uint8Array.of(0x08, 0x63, 0x12, 0x01, 0x41))]
]
