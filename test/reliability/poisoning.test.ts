/**
 * Poisoning campaigns: attackers inside the network announce others as
 * providers, put and serve forged records, flood a node's routing table
 * with Sybil identities from one IP group, and answer with garbage or not
 * at all. None of it may reach what honest nodes store, return or route by.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  commonPrefixLength,
  compareDistance,
  createIpnsRecord,
  createIpnsRecordWithExpiration,
  encodeMessage,
  FrameDecoder,
  frame,
  ipnsKey,
  kadIdOfKey,
  kadIdOfPeer,
  MemoryNetworkHub,
  type Message,
  MessageType,
  Network,
  type PeerInfo,
  peerInfoToWire,
  pkKey
} from "@effect-kad/core"
import { Values } from "@effect-kad/dht"
import { ContentRouting, ProviderStoreService } from "@effect-kad/providers"
import {
  generatePeerIds,
  ipGroupOf,
  layerPeerRouting,
  PeerRouting,
  RoutingTable,
  RpcHandlers,
  simulationDefaults
} from "@effect-kad/routing"
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { afterEach } from "vitest"
import { createLoopbackHost, dialableAddress } from "../support/hosts.js"
import { type DhtHost, startDhtHost, waitFor } from "./support/dht-hosts.js"
import { fullSimulation, storedValue } from "./support/nodes.js"
import { report } from "./support/report.js"

const encoder = new TextEncoder()

const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(encoder.encode(text))))

const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

const testCid = CID.createV1(raw.code, await sha256.digest(encoder.encode("self-announced")))

const nodes: Array<DhtHost> = []
const hosts: Array<Libp2p> = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop()
  for (const host of hosts.splice(0)) await host.stop()
})

/** A peer-routing node on `hub` at `addr`, serving until the scope closes. */
const startRoutingNode = (hub: MemoryNetworkHub, id: PeerId, addr: Multiaddr, diversity: boolean) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      layerPeerRouting({ ...simulationDefaults, diversity: { enabled: diversity } }).pipe(
        Layer.provideMerge(hub.layer(id, [addr]))
      )
    )
    yield* Effect.provide(
      Effect.flatMap(Network, (n) => Effect.flatMap(RpcHandlers, (rpc) => n.serve(rpc.dispatch))),
      context
    )
    return context
  })

type RoutingNode = Effect.Effect.Success<ReturnType<typeof startRoutingNode>>

/** Joins as a node does after dialing its bootstrap peers: learn the contacts, look itself up. */
const joinNetwork = (node: RoutingNode, id: PeerId, contacts: ReadonlyArray<PeerId>) =>
  Effect.gen(function* () {
    const network = yield* Network
    const table = yield* RoutingTable
    for (const contact of contacts) {
      yield* network.connect({ id: contact, multiaddrs: [] }).pipe(Effect.ignore)
      yield* table.tryAdd({ id: contact, multiaddrs: yield* network.addressesOf(contact) })
    }
    yield* Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(id.toMultihash().bytes))
  }).pipe(Effect.provide(node))

describe("poisoning on a simulated network", () => {
  it.scopedLive(
    "spoofed ADD_PROVIDER campaigns never make a victim or a made-up peer a provider",
    () =>
      Effect.gen(function* () {
        const sim = yield* fullSimulation({ size: 60 })
        const attackers = sim.nodes.slice(1, 7)
        const victim = sim.nodes[0]
        const victimInfo = yield* victim.run(Effect.flatMap(Network, (n) => n.selfInfo))
        const phantoms = yield* generatePeerIds(5)
        const cids = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => `spoofed content ${i}`),
          cidOf
        )
        let spoofed = 0
        for (const [i, cid] of cids.entries()) {
          // one honest provider per CID, announced before and after the campaign
          const provider = sim.nodes[20 + i]
          yield* provider.run(Effect.flatMap(ContentRouting, (c) => c.provide(cid)))
          for (const attacker of attackers) {
            const key = cid.multihash.bytes as Uint8Array<ArrayBuffer>
            const closest = yield* attacker.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)))
            const named: Array<PeerInfo> = [
              victimInfo,
              ...phantoms.map((id) => ({ id, multiaddrs: [multiaddr("/ip4/127.0.0.9/tcp/4001")] }))
            ]
            const message: Message = {
              type: MessageType.ADD_PROVIDER,
              key,
              closerPeers: [],
              providerPeers: named.map((p) => peerInfoToWire(p))
            }
            yield* attacker.run(
              Effect.flatMap(Network, (n) =>
                Effect.forEach(closest, (peer) => Effect.ignore(n.send(peer.id, message)), { discard: true })
              )
            )
            spoofed += closest.length * named.length
          }
        }
        // let the one-way messages be handled
        yield* Effect.sleep("200 millis")
        const forbidden = new Set([victim.id, ...phantoms].map(String))
        let stored = 0
        for (const node of sim.nodes) {
          for (const cid of cids) {
            const providers = yield* node.run(
              Effect.flatMap(ProviderStoreService, (s) => s.getProviders(cid.multihash.bytes)).pipe(Effect.orDie)
            )
            stored += providers.filter((p) => forbidden.has(p.id.toString())).length
          }
        }
        expect(stored).toBe(0)
        let found = 0
        for (const [i, cid] of cids.entries()) {
          const reader = sim.nodes[59 - (i % 15)]
          const providers = Chunk.toArray(
            yield* reader.run(Effect.flatMap(ContentRouting, (c) => Stream.runCollect(c.findProviders(cid))))
          )
          expect(providers.map((p) => p.id.toString())).toEqual([sim.nodes[20 + i].id.toString()])
          found += providers.length
        }
        report("poisoning: spoofed providers", { cids: cids.length, spoofedEntriesSent: spoofed, stored, found })
      }),
    120_000
  )

  // ADD_PROVIDER remembers at most DECODE_LIMITS.addrs addresses per announcement, and every answer
  // carries at most that many per peer, however many the peer store has collected (found by the soak
  // suite's handler fuzzing)
  it.scopedLive(
    "a peer announcing itself with ever new addresses cannot make FIND_NODE answers undecodable",
    () =>
      Effect.gen(function* () {
        const sim = yield* fullSimulation({ size: 12 })
        const [target, attacker, asker] = [sim.nodes[0], sim.nodes[1], sim.nodes[2]]
        const key = testCid.multihash.bytes as Uint8Array<ArrayBuffer>
        for (let round = 0; round < 10; round++) {
          const addrs = Array.from({ length: 10 }, (_, i) => multiaddr(`/ip4/127.0.${round}.${i + 1}/tcp/4001`))
          const message: Message = {
            type: MessageType.ADD_PROVIDER,
            key,
            closerPeers: [],
            providerPeers: [peerInfoToWire({ id: attacker.id, multiaddrs: addrs })]
          }
          yield* attacker.run(Effect.flatMap(Network, (n) => n.send(target.id, message)))
        }
        yield* Effect.sleep("100 millis")
        const answer = yield* asker.run(
          Effect.flatMap(Network, (n) =>
            n.request(
              target.id,
              {
                type: MessageType.FIND_NODE,
                key: attacker.id.toMultihash().bytes as Uint8Array<ArrayBuffer>,
                closerPeers: [],
                providerPeers: []
              },
              { timeoutMillis: 2_000 }
            )
          ).pipe(Effect.either)
        )
        expect(answer).toMatchObject({ _tag: "Right" })
      }),
    60_000
  )

  it.scopedLive(
    "forged, expired and mismatched records are never stored by a PUT_VALUE nor returned by getValue",
    () =>
      Effect.gen(function* () {
        const sim = yield* fullSimulation({ size: 50 })
        const ownerKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const otherKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const owner = peerIdFromPrivateKey(ownerKey)
        const name = ipnsKey(owner)
        const good = yield* Effect.promise(() => createIpnsRecord(ownerKey, "/ipfs/good", 1n, 24 * 3600_000))
        const forged: ReadonlyArray<{ readonly what: string; readonly key: Uint8Array; readonly value: Uint8Array }> = [
          {
            what: "IPNS record signed by another key",
            key: name,
            value: yield* Effect.promise(() => createIpnsRecord(otherKey, "/ipfs/evil", 99n, 24 * 3600_000))
          },
          {
            what: "expired IPNS record of the owner",
            key: name,
            value: yield* Effect.promise(() =>
              createIpnsRecordWithExpiration(ownerKey, "/ipfs/old", 99n, new Date(Date.now() - 3600_000))
            )
          },
          { what: "IPNS garbage", key: name, value: encoder.encode("not a record") },
          { what: "public key of another peer", key: pkKey(owner), value: publicKeyToProtobuf(otherKey.publicKey) },
          { what: "value without a sequence", key: encoder.encode("/v/forged"), value: encoder.encode("evil") },
          { what: "unknown namespace", key: encoder.encode("/nope/forged"), value: encoder.encode("1:x") }
        ]

        // attackers put every forged record straight to the peers closest to its key
        const attacker = sim.nodes[7]
        let puts = 0
        for (const f of forged) {
          const closest = yield* attacker.run(Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(f.key)))
          const message: Message = {
            type: MessageType.PUT_VALUE,
            key: f.key as Uint8Array<ArrayBuffer>,
            record: { key: f.key as Uint8Array<ArrayBuffer>, value: f.value as Uint8Array<ArrayBuffer> },
            closerPeers: [],
            providerPeers: []
          }
          yield* attacker.run(
            Effect.flatMap(Network, (n) =>
              Effect.forEach(closest, (p) => Effect.either(n.request(p.id, message, { timeoutMillis: 300 })), {
                concurrency: "unbounded",
                discard: true
              })
            )
          )
          puts += closest.length
        }
        for (const node of sim.nodes) {
          for (const f of forged) {
            const stored = yield* node.run(storedValue(f.key))
            expect(Option.isNone(stored), `${f.what} stored on ${node.id}`).toBe(true)
          }
        }
        for (const f of forged.filter((f) => f.key !== name)) {
          const got = yield* sim.nodes[30].run(Effect.flip(Effect.flatMap(Values, (v) => v.getValue(f.key))))
          expect(got._tag, f.what).toBe("NotFoundError")
        }

        // the owner publishes; then a third of the network turns hostile and answers GET_VALUE with forgeries
        yield* sim.nodes[1].run(Effect.flatMap(Values, (v) => v.putValue(name, good)))
        const hostile = sim.nodes.filter((_, i) => i % 3 === 0 && i > 1)
        const forgeries = forged.filter((f) => f.key === name)
        for (const [h, node] of hostile.entries()) {
          const served = forgeries[h % forgeries.length]
          yield* node.run(
            Effect.gen(function* () {
              const rpc = yield* RpcHandlers
              const routing = yield* PeerRouting
              yield* rpc.register(MessageType.GET_VALUE, (from, request) =>
                Effect.map(
                  routing.closerPeersFor(request.key ?? new Uint8Array(), from),
                  (closerPeers): Message => ({
                    type: MessageType.GET_VALUE,
                    key: request.key,
                    record: { key: name as Uint8Array<ArrayBuffer>, value: served.value as Uint8Array<ArrayBuffer> },
                    closerPeers,
                    providerPeers: []
                  })
                )
              )
            })
          )
        }
        const honest = sim.nodes.filter((n) => !hostile.includes(n))
        let invalidSeen = 0
        for (const reader of honest.slice(2, 14)) {
          const result = yield* reader.run(Effect.flatMap(Values, (v) => v.getRecord(name)))
          expect(bytesEqual(result.record.value, good)).toBe(true)
          invalidSeen += result.invalid.length
        }
        // entry correction only ever spread the good record
        for (const node of honest) {
          const stored = yield* node.run(storedValue(name))
          if (Option.isSome(stored)) expect(bytesEqual(stored.value.value, good)).toBe(true)
        }
        expect(invalidSeen).toBeGreaterThan(0)
        report("poisoning: forged records", {
          forgedKinds: forged.length,
          forgedPuts: puts,
          storedForgeries: 0,
          hostileServers: hostile.length,
          forgedAnswersRejected: invalidSeen
        })
      }),
    120_000
  )

  it.scopedLive(
    "a flood of Sybil peers from one IP group gets at most the diversity limits into a routing table",
    () =>
      Effect.gen(function* () {
        const hub = new MemoryNetworkHub({ requestTimeoutMillis: 2_000 })
        const sybilIds = yield* generatePeerIds(100)
        const honestIds = yield* generatePeerIds(50)
        const [victimId] = yield* generatePeerIds(1)
        // addresses are labels on the in-memory network; every group is inside 127.0.0.0/8
        const sybilAddr = (i: number) => multiaddr(`/ip4/127.250.${i >> 8}.${(i & 255) + 1}/tcp/4001`)
        const honestAddr = (i: number) => multiaddr(`/ip4/127.${i + 1}.0.1/tcp/4001`)
        for (const [i, id] of honestIds.entries()) {
          const node = yield* startRoutingNode(hub, id, honestAddr(i), false)
          yield* joinNetwork(node, id, honestIds.slice(Math.max(0, i - 3), i))
        }
        for (const [i, id] of sybilIds.entries()) {
          const node = yield* startRoutingNode(hub, id, sybilAddr(i), false)
          // Sybils know each other and a few honest nodes, and push each other in every answer
          yield* joinNetwork(node, id, [...sybilIds.slice(Math.max(0, i - 5), i), honestIds[i % honestIds.length]])
        }
        const victim = yield* startRoutingNode(hub, victimId, multiaddr("/ip4/127.1.2.3/tcp/4001"), true)
        yield* joinNetwork(victim, victimId, [...sybilIds.slice(0, 10), ...honestIds.slice(0, 3)])
        for (let i = 0; i < 20; i++) {
          const key = crypto.getRandomValues(new Uint8Array(32))
          yield* Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(key)).pipe(Effect.provide(victim))
        }
        const entries = yield* Effect.flatMap(RoutingTable, (t) => t.listPeers).pipe(Effect.provide(victim))
        const sybilGroup = "ip4/127.250"
        const sybils = entries.filter((e) => e.multiaddrs.some((a) => ipGroupOf(a) === sybilGroup))
        const perBucket = new Map<number, number>()
        const local = kadIdOfPeer(victimId)
        for (const e of sybils) {
          const cpl = commonPrefixLength(local, kadIdOfPeer(e.id))
          perBucket.set(cpl, (perBucket.get(cpl) ?? 0) + 1)
        }
        report("poisoning: Sybil flood", {
          sybils: sybilIds.length,
          honest: honestIds.length,
          tableSize: entries.length,
          sybilsAdmitted: sybils.length
        })
        expect(sybils.length).toBeLessThanOrEqual(3)
        for (const n of perBucket.values()) expect(n).toBeLessThanOrEqual(2)
        expect(entries.length - sybils.length).toBeGreaterThanOrEqual(20)
      }),
    180_000
  )

  it.scopedLive(
    "peers that hang are evicted and do not stall lookups",
    () =>
      Effect.gen(function* () {
        const sim = yield* fullSimulation({
          size: 60,
          // long enough that honest peers answer in time on a busy 2-core machine, short enough to keep the test quick
          requestTimeoutMillis: 1_500,
          network: { requestTimeoutMillis: 1_500 }
        })
        const hanging = sim.nodes.filter((_, i) => i % 5 === 4)
        for (const node of hanging) {
          yield* node.run(
            Effect.flatMap(RpcHandlers, (rpc) =>
              Effect.forEach(
                [MessageType.FIND_NODE, MessageType.GET_VALUE, MessageType.GET_PROVIDERS, MessageType.PUT_VALUE],
                (type) => rpc.register(type, () => Effect.never),
                { discard: true }
              )
            )
          )
        }
        const hangingIds = new Set(hanging.map((n) => n.id.toString()))
        const queriers = sim.nodes.filter((n) => !hangingIds.has(n.id.toString())).slice(0, 8)
        let failures = 0
        let slowest = 0
        const unanswered: Array<readonly [(typeof queriers)[number], Set<string>]> = []
        for (const querier of queriers) {
          const failed = new Set<string>()
          const started = Date.now()
          const key = crypto.getRandomValues(new Uint8Array(32))
          const events = yield* querier.run(
            Effect.flatMap(PeerRouting, (r) => Stream.runCollect(r.getClosestPeersStream(key)))
          )
          slowest = Math.max(slowest, Date.now() - started)
          let finished: ReadonlyArray<PeerInfo> = []
          for (const event of events) {
            // a hanging peer runs past its deadline (the lookup goes on without it) or fails outright
            if (event._tag === "PeerFailed" || event._tag === "PeerOverdue") failed.add(event.peer.toString())
            if (event._tag === "PeerResponded") failed.delete(event.peer.toString())
            if (event._tag === "Finished") finished = event.result.closest
          }
          failures += failed.size
          // every table still lists the hanging peers, so each answer near the key carries the same 20
          // closest, hanging ones included: the lookup must return every honest one of them
          const target = kadIdOfKey(key)
          const honestClosest = sim.nodes
            .filter((n) => n !== querier)
            .map((n) => n.id)
            .sort((a, b) => compareDistance(kadIdOfPeer(a), kadIdOfPeer(b), target))
            .slice(0, 20)
            .filter((id) => !hangingIds.has(id.toString()))
            .map(String)
          expect(finished.map((p) => p.id.toString())).toEqual(expect.arrayContaining(honestClosest))
          for (const p of finished) expect(hangingIds.has(p.id.toString())).toBe(false)
          unanswered.push([querier, failed])
        }
        // their requests run on to the request timeout in the background, then evict them
        yield* Effect.sleep("2500 millis")
        for (const [querier, failed] of unanswered) {
          const table = yield* querier.run(Effect.flatMap(RoutingTable, (t) => t.listPeers))
          for (const entry of table) expect(failed.has(entry.id.toString())).toBe(false)
        }
        report("poisoning: hanging peers", {
          nodes: 60,
          hanging: hanging.length,
          lookups: queriers.length,
          failedQueries: failures,
          slowestLookupMillis: slowest
        })
        expect(failures).toBeGreaterThan(0)
        // a hanging peer costs one request timeout, paid in parallel: far from one timeout per hanging peer
        expect(slowest).toBeLessThan(10_000)
      }),
    120_000
  )
})

type Behaviour = { mode: "honest" | "garbage" | "hang" }

/**
 * A host that serves the DHT protocol by hand: honest answers (a FIND_NODE
 * response naming `known`) until told to answer with bytes that do not
 * decode, or to accept requests and never answer.
 */
const turncoat = async (behaviour: Behaviour, known: PeerInfo): Promise<Libp2p> => {
  const host = await createLoopbackHost()
  await host.handle("/ipfs/kad/1.0.0", (stream) => {
    const decoder = new FrameDecoder()
    stream.addEventListener("message", (event) => {
      for (const _ of decoder.push(event.data)) {
        if (behaviour.mode === "hang") continue
        if (behaviour.mode === "garbage") stream.send(frame(Uint8Array.of(0x08, 0x63, 0xff, 0xff)))
        else {
          const answer: Message = {
            type: MessageType.FIND_NODE,
            closerPeers: [peerInfoToWire(known)],
            providerPeers: []
          }
          stream.send(frame(encodeMessage(answer)))
        }
      }
    })
  })
  return host
}

describe("poisoning on real loopback hosts", () => {
  it("hosts that turn to garbage or stop answering are evicted and do not stall lookups; garbage from the start never gets in", async () => {
    const first = await startDhtHost()
    nodes.push(first)
    for (let i = 0; i < 3; i++) nodes.push(await startDhtHost({ bootstrap: [first.host] }))
    const victim = await startDhtHost({ bootstrap: [first.host] })
    nodes.push(victim)
    const known: PeerInfo = { id: first.host.peerId, multiaddrs: first.host.getMultiaddrs() }

    const toGarbage: Behaviour = { mode: "honest" }
    const toHang: Behaviour = { mode: "honest" }
    const alwaysGarbage: Behaviour = { mode: "garbage" }
    const turnsGarbage = await turncoat(toGarbage, known)
    const turnsSilent = await turncoat(toHang, known)
    const rotten = await turncoat(alwaysGarbage, known)
    hosts.push(turnsGarbage, turnsSilent, rotten)
    // connecting makes identify tell the victim that they serve the DHT protocol; admission checks them
    for (const host of [turnsGarbage, turnsSilent, rotten]) await host.dial(multiaddr(dialableAddress(victim.host)))
    const turncoats = new Set([turnsGarbage.peerId.toString(), turnsSilent.peerId.toString()])
    let tableIds: Array<string> = []
    const refresh = () => {
      void victim.dht.routingTable.listPeers().then((peers) => {
        tableIds = peers.map((p) => p.id.toString())
      })
    }
    const admitted = await waitFor(() => {
      refresh()
      return [...turncoats].every((id) => tableIds.includes(id))
    }, 10_000)
    expect(admitted).toBe(true)
    expect(tableIds).not.toContain(rotten.peerId.toString())

    toGarbage.mode = "garbage"
    toHang.mode = "hang"
    const started = Date.now()
    const closest = await victim.dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)), { timeout: 20_000 })
    const lookupMillis = Date.now() - started
    const attackers = new Set([...turncoats, rotten.peerId.toString()])
    expect(closest.map((p) => p.id.toString()).filter((id) => attackers.has(id))).toEqual([])
    expect(closest.length).toBeGreaterThanOrEqual(4)
    // the lookup does not wait for the silent host: past its deadline it stops counting, and
    // the request runs on to its timeout (5 s here) in the background, then evicts it
    expect(lookupMillis).toBeLessThan(5_000)
    let remaining: Array<string> | undefined
    const evicted = await waitFor(() => {
      void victim.dht.routingTable.listPeers().then((peers) => {
        remaining = peers.map((p) => p.id.toString()).filter((id) => attackers.has(id))
      })
      return remaining !== undefined && remaining.length === 0
    }, 10_000)
    expect(evicted, `still in the table: ${remaining?.join(", ")}`).toBe(true)
    report("poisoning: garbage and hanging hosts", {
      turncoats: 2,
      evicted: 2 - (remaining?.length ?? 0),
      refusedAtAdmission: 1,
      lookupMillis
    })
  }, 90_000)
})
