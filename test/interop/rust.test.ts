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
  ipnsKey,
  MessageType,
  parseRfc3339,
  pkKey,
  publicKeyValidator
} from "@effect-kad/core"
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, Either, Option } from "effect"
import { beforeAll } from "vitest"
import { suiteCanRun } from "../support/toolchains.js"
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
import {
  admitted,
  closestServers,
  counterparts,
  decoding,
  expectProviderStored,
  firstOfEachKindWith,
  framing,
  freshKeys,
  K,
  ourVerdict,
  randomCid,
  readVarint,
  type ThreeWayPick
} from "./support/suite-helpers.js"
import { testValue, text } from "./support/validator.js"

/** Where operations start from: the first server and the client of each implementation. */
const firstOfEachKind = firstOfEachKindWith("rust")

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

/** A key no other test uses. */
const freshKey = freshKeys("rust")

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
        readonly [searcher: ThreeWayPick, anchorImpl: "ours" | "js" | "rust", targetImpl: "ours" | "js"]
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
