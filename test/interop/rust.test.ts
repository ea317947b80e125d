/**
 * Interop with rust-libp2p's kad (libp2p 0.57.1, libp2p-kad 0.49.0), run as
 * a peer program (`test/interop/peers/rust/`) in one network with our nodes
 * and `@libp2p/kad-dht` nodes: 22 servers, more than k = 20, so lookups
 * have to pick, and one client of each implementation. Every operation runs
 * in both directions between ours and rust and between js and rust; the
 * behaviour differences rust-libp2p shows (README, rust-libp2p section) are
 * pinned where they are visible on the wire; hostile frames go both ways.
 * After the operation tests no client is in any server's routing table.
 */

import { describe, expect, layer } from "@effect/vitest"
import {
  createIpnsRecord,
  decodeMessage,
  frame,
  ipnsKey,
  MessageType,
  parseRfc3339,
  peerInfoFromWire,
  pkKey,
  publicKeyValidator,
  type Validator
} from "@effect-kad/core"
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, Either, Option } from "effect"
import { CID } from "multiformats/cid"
import { sha256 } from "multiformats/hashes/sha2"
import { beforeAll } from "vitest"
import { suiteCanRun } from "../support/toolchains.js"
import { varint } from "../support/varint.js"
import { byDistance, idSet, randomKey, tcpPorts } from "./support/expect.js"
import {
  ThreeWayNetwork,
  type ThreeWayNetworkShape,
  type ThreeWayNode,
  tableMembers
} from "./support/external-network.js"
import { buildPeer } from "./support/external-peer.js"
import { eventually } from "./support/network.js"
import { connect, InteropError, type JsDhtNode, startNode } from "./support/nodes.js"
import { encodeRequest, rawRequest, sendRaw } from "./support/raw.js"
import { testKey, testValue, text } from "./support/validator.js"

const K = 20
const MiB = 1024 * 1024
const RAW_CODEC = 0x55

/** A node of the network, picked by label. */
type Pick = readonly [label: string, pick: (net: ThreeWayNetworkShape) => ThreeWayNode]

/** Where operations start from: the first server and the client of each implementation. */
const firstOfEachKind: ReadonlyArray<Pick> = [
  ["our server", (net) => net.ours.servers[0]],
  ["our client", (net) => net.ours.clients[0]],
  ["a js server", (net) => net.js.servers[0]],
  ["a js client", (net) => net.js.clients[0]],
  ["a rust server", (net) => net.external.servers[0]],
  ["the rust client", (net) => net.external.clients[0]]
]

/** The nodes that must see what `node` did: rust's for ours and js, ours and js for rust. */
const counterparts = (net: ThreeWayNetworkShape, node: ThreeWayNode): ReadonlyArray<ThreeWayNode> =>
  node.impl === "rust"
    ? [...net.ours.servers, ...net.ours.clients, ...net.js.servers, ...net.js.clients]
    : [...net.external.servers, ...net.external.clients]

/** The k servers closest to `key` (other than `except`), by XOR distance computed here. */
const closestServers = (net: ThreeWayNetworkShape, key: Uint8Array, except?: ThreeWayNode) => {
  const ids = byDistance(
    key,
    net.servers.filter((s) => s !== except).map((s) => s.peerId)
  ).slice(0, K)
  const wanted = new Set(ids.map(String))
  return net.servers.filter((s) => wanted.has(s.peerId.toString()))
}

/** Fails unless no client is in the routing table of any of `servers` (all by default). */
const clientsOutOfTables = (net: ThreeWayNetworkShape, servers: ReadonlyArray<ThreeWayNode> = net.servers) =>
  Effect.forEach(
    servers,
    (server) =>
      Effect.flatMap(tableMembers(server, net.clients), (clients) =>
        clients.length === 0
          ? Effect.void
          : Effect.fail(
              new InteropError({
                node: server.name,
                operation: "keep clients out of the routing table",
                cause: `holds ${clients.map((c) => c.name).join(", ")}`
              })
            )
      ),
    { discard: true, concurrency: 4 }
  )

let keys = 0
/** A key no other test uses. */
const freshKey = (label: string) => testKey(`rust-${label.replaceAll(" ", "-")}-${Date.now()}-${keys++}`)

const randomCid = () => Effect.promise(async () => CID.createV1(RAW_CODEC, await sha256.digest(randomKey())))

/** A raw GET_VALUE for `key` to `server`: the value and `timeReceived` it answers with. */
const storedRecord = (net: ThreeWayNetworkShape, server: ThreeWayNode, key: Uint8Array) =>
  Effect.map(rawRequest(net.probe, server.peerId, { type: MessageType.GET_VALUE, key }), (response) => ({
    value: text(response.record?.value),
    timeReceived: response.record?.timeReceived
  }))

/**
 * Waits until `server` answers a raw GET_VALUE for `key` with `value`;
 * ours and js with a parsable `timeReceived`, rust with none (it never
 * writes the field: difference 1 of the README's rust-libp2p section).
 */
const expectStored = (net: ThreeWayNetworkShape, server: ThreeWayNode, key: Uint8Array, value: Uint8Array) =>
  eventually(
    Effect.flatMap(storedRecord(net, server, key), (stored) => {
      const timeOk =
        server.impl === "rust"
          ? !stored.timeReceived
          : stored.timeReceived !== undefined && parseRfc3339(stored.timeReceived) !== undefined
      return stored.value === text(value) && timeOk
        ? Effect.void
        : Effect.fail(
            new InteropError({
              node: server.name,
              operation: "store value",
              cause: `answered ${stored.value} at ${stored.timeReceived}`
            })
          )
    }),
    "10 seconds"
  )

const isJs = (node: ThreeWayNode): node is JsDhtNode => node.impl === "js"

/** QUERY_ERRORs a js node reported about rust servers since `mark`, as readable lines. */
const jsErrorsAboutRust = (net: ThreeWayNetworkShape, node: ThreeWayNode, mark: number) => {
  if (!isJs(node)) return []
  const rust = new Set(net.external.servers.map((s) => s.peerId.toString()))
  return node.queryErrors
    .slice(mark)
    .filter((e) => rust.has(e.from.toString()))
    .map((e) => `${e.operation} from ${net.nameOf(e.from)}: ${e.message}`)
}

/** How many QUERY_ERRORs a js node has reported so far. */
const jsErrorMark = (node: ThreeWayNode) => (isJs(node) ? node.queryErrors.length : 0)

/** Waits until `server` answers a raw GET_PROVIDERS for `cid` with `provider` at its ports. */
const expectProviderStored = (net: ThreeWayNetworkShape, server: ThreeWayNode, cid: CID, provider: ThreeWayNode) =>
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
const admitted = (anchor: ThreeWayNode, peer: PeerId) =>
  eventually(
    Effect.flatMap(anchor.routingTableHas(peer), (has) =>
      has ? Effect.void : Effect.fail(new InteropError({ node: anchor.name, operation: "admit", cause: "absent" }))
    ),
    "15 seconds"
  )

/** What our validator says of a record: undefined when accepted, the reason otherwise. */
const ourVerdict = (validator: Validator, key: Uint8Array, value: Uint8Array) =>
  Effect.promise(async () => {
    try {
      await validator.validate(key, value)
      return undefined
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  })

/** The value and length of the varint at the start of `bytes`. */
const readVarint = (bytes: Uint8Array): readonly [value: number, length: number] => {
  let value = 0
  for (let i = 0; i < Math.min(bytes.length, 5); i++) {
    value += (bytes[i] & 0x7f) * 2 ** (7 * i)
    if ((bytes[i] & 0x80) === 0) return [value, i + 1]
  }
  return [-1, 0]
}

/** Cases that break the framing: the receiver cannot find where a message ends. */
const framing: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["a 5 MiB length prefix", Uint8Array.from([...varint(5 * MiB), 1, 2, 3, 4])],
  ["a length prefix of 4 MiB + 1", varint(4 * MiB + 1)],
  ["an unterminated varint", new Uint8Array(11).fill(0xff)]
]

/** Cases with sound framing whose body is not a DHT message. */
const decoding: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["garbage protobuf", frame(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f))],
  ["a field longer than the frame", frame(Uint8Array.of(0x12, 0x10, 0x01))],
  ["an unknown message type", frame(Uint8Array.of(0x08, 0x63, 0x12, 0x01, 0x41))]
]

describe.runIf(suiteCanRun("rust-libp2p interop", ["cargo"]))("rust-libp2p kad (libp2p 0.57.1)", () => {
  // a cold build downloads and compiles rust-libp2p (minutes on 2 cores); a warm one is a cache check
  beforeAll(() => Effect.runPromise(Effect.asVoid(buildPeer("rust"))), 20 * 60_000)

  layer(ThreeWayNetwork.layer("rust"), { excludeTestServices: true, timeout: "3 minutes" })(
    "three-way network",
    (it) => {
      it.effect(
        "every server holds every other server; clients hold servers of all three kinds and are in no table",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            for (const client of net.clients) {
              const held = yield* tableMembers(client, net.servers)
              expect([...new Set(held.map((s) => s.impl))].sort(), client.name).toEqual(["js", "ours", "rust"])
            }
            yield* clientsOutOfTables(net)
          }),
        60_000
      )

      it.effect(
        `getClosestPeers from a server and a client of each kind: exactly the ${K} closest servers, no client`,
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            for (const [label, pick] of firstOfEachKind) {
              const searcher = pick(net)
              const key = randomKey()
              const found = yield* searcher.getClosestPeers(key)
              const expected = closestServers(net, key, searcher).map((s) => s.peerId)
              expect(found.map(net.nameOf).sort(), label).toEqual(expected.map(net.nameOf).sort())
              expect(idSet(found), label).toEqual(idSet(expected))
            }
          }),
        60_000
      )

      it.effect(
        "getClosestPeers for a peer ID key puts that peer first, between rust and each other implementation",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const rust = net.external.servers
            for (const [searcher, target] of [
              [net.ours.servers[1], rust[2]],
              [net.js.servers[1], rust[3]],
              [rust[1], net.ours.servers[2]],
              [rust[4], net.js.servers[2]]
            ] as const) {
              const key = target.peerId.toMultihash().bytes
              const found = yield* searcher.getClosestPeers(key)
              expect(byDistance(key, found)[0]?.toString(), `${searcher.name} for ${target.name}`).toBe(
                target.peerId.toString()
              )
            }
          }),
        30_000
      )

      it.effect(
        "findPeer from rust for a peer nobody knows ends empty",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const stranger = peerIdFromPrivateKey(yield* Effect.promise(() => generateKeyPair("Ed25519")))
            for (const searcher of [net.external.servers[0], net.external.clients[0]]) {
              expect(Option.isNone(yield* searcher.findPeer(stranger)), searcher.name).toBe(true)
            }
          }),
        30_000
      )

      for (const [label, pick] of firstOfEachKind) {
        it.effect(
          `${label} puts: the closest servers of the other side store the record and every node of it gets the value`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const putter = pick(net)
              const key = freshKey(label)
              const value = testValue(1, `from ${putter.name}`)
              const mark = jsErrorMark(putter)
              yield* putter.put(key, value)
              expect(jsErrorsAboutRust(net, putter, mark)).toEqual([])

              const getters = counterparts(net, putter)
              const storers = closestServers(net, key).filter((s) => getters.includes(s))
              expect(storers.length).toBeGreaterThan(0)
              yield* Effect.forEach(storers, (server) => expectStored(net, server, key, value), {
                discard: true,
                concurrency: 4
              })
              const got = yield* Effect.forEach(
                getters,
                (getter) => Effect.map(getter.get(key), (v) => [getter.name, text(Option.getOrUndefined(v))] as const),
                { concurrency: 4 }
              )
              expect(got).toEqual(getters.map((g) => [g.name, text(value)]))
            }),
          60_000
        )
      }

      it.effect(
        "a record only rust servers hold, answered without timeReceived: ours and js both get it",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const key = freshKey("rust-only")
            const value = testValue(1, "held by rust only")
            for (const server of net.external.servers) {
              const echo = yield* rawRequest(net.probe, server.peerId, {
                type: MessageType.PUT_VALUE,
                key,
                record: { key, value }
              })
              expect(text(echo.record?.value), server.name).toBe(text(value))
              expect(yield* storedRecord(net, server, key), server.name).toEqual({
                value: text(value),
                timeReceived: undefined
              })
            }
            // js reads the missing field as an invalid Date, which its null check lets through
            const js = net.js.clients[0]
            const errors = js.queryErrors.length
            expect(text(Option.getOrUndefined(yield* js.get(key)))).toBe(text(value))
            const fromRust = new Set(net.external.servers.map((s) => s.peerId.toString()))
            expect(js.queryErrors.slice(errors).filter((e) => fromRust.has(e.from.toString()))).toEqual([])
            expect(text(Option.getOrUndefined(yield* net.ours.clients[0].get(key)))).toBe(text(value))
          }),
        60_000
      )

      for (const getterImpl of ["ours", "js", "rust"] as const) {
        it.effect(
          `${getterImpl === "ours" ? "our" : `a ${getterImpl}`} get picks the best of competing records and corrects outdated servers of the other kinds`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const getter =
                getterImpl === "ours"
                  ? net.ours.servers[1]
                  : getterImpl === "js"
                    ? net.js.servers[1]
                    : net.external.servers[1]
              const key = freshKey(`best-for-${getterImpl}`)
              const older = testValue(1, "older")
              const newer = testValue(2, "newer")
              const holders = [net.ours.servers[3], net.js.servers[3], net.external.servers[3]]
              const outdated = [net.ours.servers[4], net.js.servers[4], net.external.servers[4]].filter(
                (s) => s.impl !== getterImpl
              )
              const put = (server: ThreeWayNode, value: Uint8Array) =>
                rawRequest(net.probe, server.peerId, { type: MessageType.PUT_VALUE, key, record: { key, value } })
              for (const server of outdated) yield* put(server, older)
              for (const server of holders) yield* put(server, newer)

              expect(text(Option.getOrUndefined(yield* getter.get(key)))).toBe(text(newer))
              // the getter's lookup asks the servers closest to the key; correction reaches those of them that answered older
              const asked = new Set(closestServers(net, key, getter))
              for (const server of outdated.filter((s) => asked.has(s))) yield* expectStored(net, server, key, newer)
            }),
          60_000
        )
      }

      it.effect(
        "a worse record put later: rust keeps the better one but echoes the worse; gets of all kinds return the best",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const key = freshKey("keep-better")
            const better = testValue(5, "better")
            const worse = testValue(3, "worse")
            yield* net.ours.servers[4].put(key, better)
            const rust = closestServers(net, key).find((s) => s.impl === "rust")!
            yield* expectStored(net, rust, key, better)
            const echo = yield* rawRequest(net.probe, rust.peerId, {
              type: MessageType.PUT_VALUE,
              key,
              record: { key, value: worse }
            })
            expect(text(echo.record?.value)).toBe(text(worse))
            expect((yield* storedRecord(net, rust, key)).value).toBe(text(better))
            for (const getter of [net.external.servers[2], net.external.clients[0], net.js.clients[0]]) {
              expect(text(Option.getOrUndefined(yield* getter.get(key))), getter.name).toBe(text(better))
            }
          }),
        60_000
      )

      it.effect(
        "records the namespace validator refuses: rust answers with the echo but stores nothing; rust's put refuses them",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const encoder = new TextEncoder()
            const rust = net.external.servers[1]
            const refused: ReadonlyArray<readonly [string, Uint8Array, Uint8Array]> = [
              ["malformed value", freshKey("invalid"), encoder.encode("not a versioned value")],
              ["unknown namespace", encoder.encode(`/elsewhere/${Date.now()}`), testValue(1, "x")]
            ]
            for (const [label, key, value] of refused) {
              // ours, js and go reset the stream; rust-libp2p's kad echoes every record it is sent
              const echo = yield* rawRequest(net.probe, rust.peerId, {
                type: MessageType.PUT_VALUE,
                key,
                record: { key, value }
              })
              expect(text(echo.record?.value), label).toBe(text(value))
              expect((yield* storedRecord(net, rust, key)).value, label).toBeUndefined()
              expect((yield* rust.validate(key, value)).valid, label).toBe(false)
              const put = yield* Effect.either(rust.put(key, value))
              expect(Either.isLeft(put), label).toBe(true)
            }
            expect(yield* rust.validate(freshKey("valid"), testValue(3, "ok"))).toEqual({ valid: true })
          }),
        30_000
      )

      for (const [label, pick] of firstOfEachKind) {
        it.effect(
          `${label} provides: the closest servers of the other side store the record and every node of it finds the provider`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const provider = pick(net)
              const cid = yield* randomCid()
              const mark = jsErrorMark(provider)
              yield* provider.provide(cid)
              expect(jsErrorsAboutRust(net, provider, mark)).toEqual([])

              const finders = counterparts(net, provider)
              const storers = closestServers(net, cid.multihash.bytes).filter((s) => finders.includes(s))
              expect(storers.length).toBeGreaterThan(0)
              yield* Effect.forEach(storers, (server) => expectProviderStored(net, server, cid, provider), {
                discard: true,
                concurrency: 4
              })
              const ports = tcpPorts(provider.addresses())
              const found = yield* Effect.forEach(
                finders,
                (finder) =>
                  Effect.map(finder.findProviders(cid), (providers) => {
                    const match = providers.find((p) => p.id.equals(provider.peerId))
                    return [finder.name, match === undefined ? "not found" : tcpPorts(match.multiaddrs)] as const
                  }),
                { concurrency: 4 }
              )
              expect(found).toEqual(finders.map((f) => [f.name, ports]))
              // rust servers admit only peers identify shows serving the DHT; ours check the same way
              yield* clientsOutOfTables(
                net,
                net.servers.filter((s) => s.impl !== "js")
              )
              if (provider.role === "client" && provider.impl === "rust") {
                // @libp2p/kad-dht admits any peer a GET_PROVIDERS answer lists once it answers libp2p
                // ping, so the js finders take the rust client into their tables (README, rust-libp2p section)
                yield* eventually(
                  Effect.flatMap(
                    Effect.forEach(net.js.servers, (s) => s.routingTableHas(provider.peerId)),
                    (has) =>
                      has.some(Boolean)
                        ? Effect.void
                        : Effect.fail(
                            new InteropError({ node: provider.name, operation: "js admission", cause: "none" })
                          )
                  ),
                  "10 seconds"
                )
              }
            }),
          60_000
        )
      }

      it.effect(
        "a CID nobody provides: rust's findProviders ends with none",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const cid = yield* randomCid()
            for (const finder of [net.external.servers[1], net.external.clients[0]]) {
              expect(yield* finder.findProviders(cid), finder.name).toEqual([])
            }
          }),
        30_000
      )

      /**
       * A target that joins after the network settled, known only to the
       * server of `anchorImpl` closest to it (so that the searcher's lookup
       * surely asks that anchor): the searcher learns the target's
       * addresses only from a FIND_NODE answer the anchor's implementation
       * wrote, and a rust searcher from the target's own answer. Late
       * servers stop after their test and stay in routing tables as dead
       * entries, so these tests come after those that expect exactly the
       * 20 closest live servers.
       */
      const findPeerCases: ReadonlyArray<
        readonly [searcher: Pick, anchorImpl: "ours" | "js" | "rust", targetImpl: "ours" | "js"]
      > = [
        [firstOfEachKind[0], "rust", "js"],
        [firstOfEachKind[1], "rust", "js"],
        [firstOfEachKind[2], "rust", "ours"],
        [firstOfEachKind[3], "rust", "ours"],
        [firstOfEachKind[4], "ours", "js"],
        [firstOfEachKind[5], "ours", "js"],
        [firstOfEachKind[4], "js", "ours"],
        [firstOfEachKind[5], "js", "ours"]
      ]
      for (const [[label, pickSearcher], anchorImpl, targetImpl] of findPeerCases) {
        it.effect(
          `findPeer from ${label} reaches a late ${targetImpl} server known only to a ${anchorImpl} server`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const searcher = pickSearcher(net)
              const target = yield* startNode(targetImpl, `late-${targetImpl}-for-${searcher.name}`, "server")
              const key = target.peerId.toMultihash().bytes
              const kind = anchorImpl === "rust" ? net.external : anchorImpl === "ours" ? net.ours : net.js
              const nearest = byDistance(
                key,
                kind.servers.map((s) => s.peerId)
              )[0]
              const anchor = kind.servers.find((s) => s.peerId.equals(nearest))!
              yield* connect(target, anchor)
              yield* admitted(anchor, target.peerId)

              const found = yield* searcher.findPeer(target.peerId)
              expect(Option.isSome(found), `${searcher.name} finds ${target.name} via ${anchor.name}`).toBe(true)
              const info = Option.getOrThrow(found)
              expect(info.id.equals(target.peerId)).toBe(true)
              expect(tcpPorts(info.multiaddrs)).toEqual(tcpPorts(target.addresses()))
            }).pipe(Effect.scoped),
          45_000
        )
      }

      it.effect(
        "/pk records pass both ways; rust makes no IPNS record and calls IPNS validation unsupported",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            const rust = net.external.servers[0]
            const pk = yield* rust.pkRecord
            expect(pk.key).toEqual(pkKey(rust.peerId))
            expect(yield* ourVerdict(publicKeyValidator, pk.key, pk.record)).toBeUndefined()
            expect(
              yield* ourVerdict(publicKeyValidator, pkKey(net.external.servers[1].peerId), pk.record)
            ).toBeDefined()

            const key = yield* Effect.promise(() => generateKeyPair("Ed25519"))
            const peer = peerIdFromPrivateKey(key)
            expect(yield* rust.validate(pkKey(peer), publicKeyToProtobuf(key.publicKey))).toEqual({ valid: true })
            expect((yield* rust.validate(pkKey(rust.peerId), publicKeyToProtobuf(key.publicKey))).valid).toBe(false)

            // a /pk record put by rust is got by js (which validates /pk by default) and by rust
            yield* net.external.servers[5].put(pkKey(peer), publicKeyToProtobuf(key.publicKey))
            for (const getter of [net.js.clients[0], net.external.clients[0]]) {
              const got = Option.map(yield* getter.get(pkKey(peer)), (bytes) => new Uint8Array(bytes))
              expect(Option.getOrUndefined(got), getter.name).toEqual(publicKeyToProtobuf(key.publicKey))
            }

            const cid = yield* randomCid()
            const made = yield* Effect.either(rust.ipnsRecord(`/ipfs/${cid}`, 1, 3600))
            expect(Either.isLeft(made) && made.left.message).toMatch(/unsupported/)
            const record = yield* Effect.promise(() => createIpnsRecord(key, `/ipfs/${cid}`, 3, 60 * 60 * 1000))
            expect(yield* rust.validate(ipnsKey(peer), record)).toEqual({ valid: false, error: "unsupported" })
          }),
        30_000
      )

      it.effect(
        "after the operations no client is in the table of any server, except the rust client, which js servers took from a provider list",
        () =>
          Effect.gen(function* () {
            const net = yield* ThreeWayNetwork
            yield* clientsOutOfTables(
              net,
              net.servers.filter((s) => s.impl !== "js")
            )
            for (const js of net.js.servers) {
              const held = yield* tableMembers(js, net.clients)
              expect(
                held.map((c) => c.name),
                js.name
              ).toEqual(held.length === 0 ? [] : [net.external.clients[0].name])
            }
          }),
        30_000
      )

      for (const [kind, cases] of [
        ["framing", framing],
        ["decoding", decoding]
      ] as const) {
        it.effect(
          `a rust server ends streams with broken ${kind} without answering, and keeps serving`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const receiver = net.external.servers[2]
              const outcomes = yield* Effect.forEach(cases, ([, bytes]) => sendRaw(net.probe, receiver.peerId, bytes), {
                concurrency: "unbounded"
              })
              for (const [i, [name]] of cases.entries()) {
                expect({ case: name, end: outcomes[i].end, frames: outcomes[i].frames.length }).toEqual({
                  case: name,
                  end: expect.stringMatching(/^(reset|closed)$/),
                  frames: 0
                })
              }
              const response = yield* rawRequest(net.probe, receiver.peerId, {
                type: MessageType.FIND_NODE,
                key: randomKey()
              })
              expect(response.type).toBe(MessageType.FIND_NODE)
              expect(response.closerPeers.length).toBeGreaterThanOrEqual(K - 2)
              for (const asker of [net.ours.servers[1], net.js.servers[1]]) {
                const found = yield* asker.getClosestPeers(receiver.peerId.toMultihash().bytes)
                expect(idSet(found), asker.name).toContain(receiver.peerId.toString())
              }
            }),
          45_000
        )

        it.effect(
          `rust's raw streams with broken ${kind} to our server are reset without an answer, and ours keeps serving`,
          () =>
            Effect.gen(function* () {
              const net = yield* ThreeWayNetwork
              const rust = net.external.servers[2]
              const receiver = net.ours.servers[2]
              const outcomes = yield* Effect.forEach(cases, ([, bytes]) => rust.rawRequest(receiver.peerId, bytes), {
                concurrency: "unbounded"
              })
              for (const [i, [name]] of cases.entries()) {
                expect({ case: name, reset: outcomes[i].reset, response: outcomes[i].response.length }).toEqual({
                  case: name,
                  reset: true,
                  response: 0
                })
              }
              const answer = yield* rust.rawRequest(
                receiver.peerId,
                encodeRequest({ type: MessageType.FIND_NODE, key: randomKey() })
              )
              expect(answer.reset).toBe(false)
              const [length, offset] = readVarint(answer.response)
              const decoded = decodeMessage(answer.response.subarray(offset, offset + length))
              expect(Either.isRight(decoded)).toBe(true)
              if (Either.isRight(decoded)) {
                expect(decoded.right.type).toBe(MessageType.FIND_NODE)
                expect(decoded.right.closerPeers.length).toBeGreaterThanOrEqual(K - 2)
              }
              const found = yield* rust.getClosestPeers(receiver.peerId.toMultihash().bytes)
              expect(idSet(found)).toContain(receiver.peerId.toString())
            }),
          45_000
        )
      }
    }
  )
})
