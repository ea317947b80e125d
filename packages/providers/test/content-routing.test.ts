import { describe, expect, it } from "@effect/vitest"
import {
  compareDistance,
  encodeMessage,
  InvalidKeyError,
  kadIdOfKey,
  kadIdOfPeer,
  Message,
  MessageType,
  Network,
  type PeerInfo,
  peerInfoToWire
} from "@effect-kad/core"
import {
  generatePeerIds,
  makeSimulation,
  RoutingTable,
  type SimulatedNode,
  simulationDefaults
} from "@effect-kad/routing"
import { multiaddr } from "@multiformats/multiaddr"
import { Chunk, Duration, Effect, FastCheck as fc, Stream, TestClock, TestServices } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { identity } from "multiformats/hashes/identity"
import { sha256 } from "multiformats/hashes/sha2"
import { fitProviderPeers, MAX_GET_PROVIDERS_RESPONSE_SIZE } from "../src/content-routing/handlers.js"
import { ContentRouting, layerContentRouting, ProviderStoreService } from "../src/index.js"

type Node = SimulatedNode<ContentRouting | ProviderStoreService>

const cidOf = (text: string) =>
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))))

const content = <A, E>(node: Node, f: (c: ContentRouting["Type"]) => Effect.Effect<A, E>) =>
  node.run(Effect.flatMap(ContentRouting, f))

const findAll = (node: Node, cid: CID, count?: number) =>
  content(node, (c) => Stream.runCollect(c.findProviders(cid, { count }))).pipe(Effect.map(Chunk.toArray))

const ids = (peers: ReadonlyArray<PeerInfo>) => peers.map((p) => p.id.toString())

const selfInfo = (node: Node) => node.run(Effect.flatMap(Network, (n) => n.selfInfo))

const storedProviders = (node: Node, key: Uint8Array) =>
  node.run(Effect.flatMap(ProviderStoreService, (s) => s.getProviders(key)))

/** The nodes sorted by distance to `key`, closest first. */
const byDistance = (nodes: ReadonlyArray<Node>, key: Uint8Array) => {
  const target = kadIdOfKey(key)
  return [...nodes].sort((a, b) => compareDistance(kadIdOfPeer(a.id), kadIdOfPeer(b.id), target))
}

/** Polls `check` on the live clock (every 10 ms, 10 s at most) while the test clock stands still. */
const eventually = <E>(check: () => Effect.Effect<boolean, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      if (yield* Effect.orDie(check())) return
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
    expect.fail("condition not reached within 10 s")
  })

const addProvider = (key: Uint8Array, providers: ReadonlyArray<PeerInfo>): Message => ({
  type: MessageType.ADD_PROVIDER,
  key: key as Uint8Array<ArrayBuffer>,
  closerPeers: [],
  providerPeers: providers.map((p) => peerInfoToWire(p))
})

describe("content routing on a simulated network of 100 nodes", () => {
  it.scoped(
    "a provided CID is found with addresses from many nodes, local providers first, each provider once",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 100 }, layerContentRouting())
        const nodes = sim.nodes
        const cid = yield* cidOf("hello providers")
        const key = cid.multihash.bytes
        const provider = nodes[3]
        const providerInfo = yield* selfInfo(provider)

        const sent = yield* content(provider, (c) => c.provide(cid))
        expect(sent).toBe(20)
        // the DHT key is the multihash, and the 20 closest peers hold the record
        const holders = byDistance(
          nodes.filter((n) => n !== provider),
          key
        ).slice(0, 20)
        for (const holder of holders) {
          expect(ids(yield* storedProviders(holder, key))).toEqual([provider.id.toString()])
        }

        for (const seeker of nodes.filter((n) => n !== provider).slice(0, 24)) {
          const found = yield* findAll(seeker, cid)
          expect(ids(found)).toEqual([provider.id.toString()])
          expect(found[0].multiaddrs.map(String)).toEqual(providerInfo.multiaddrs.map(String))
        }

        // a second provider, and a provider only the seeker knows locally
        const second = nodes[77]
        yield* content(second, (c) => c.provide(cid))
        const seeker = byDistance(
          nodes.filter((n) => n !== provider && n !== second),
          key
        ).at(-1)!
        expect(yield* storedProviders(seeker, key)).toEqual([])
        const localOnly = yield* selfInfo(nodes[50])
        yield* seeker.run(Effect.flatMap(ProviderStoreService, (s) => s.addProvider(key, localOnly)))

        const found = yield* findAll(seeker, cid)
        // each of the ~20 holders reports both network providers, yet each comes once
        expect(found.length).toBe(3)
        expect(ids(found)[0]).toBe(nodes[50].id.toString())
        expect(new Set(ids(found))).toEqual(new Set([nodes[50], provider, second].map((n) => n.id.toString())))
        for (const p of found) expect(p.multiaddrs.length).toBeGreaterThan(0)
      }),
    60_000
  )

  it.scoped(
    "count stops the lookup early; announce: false stays local; invalid input is refused",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 100 }, layerContentRouting())
        const nodes = sim.nodes
        const cid = yield* cidOf("counted")
        const key = cid.multihash.bytes
        yield* content(nodes[1], (c) => c.provide(cid))
        yield* content(nodes[2], (c) => c.provide(cid))
        // a seeker that holds no record but whose first queries reach a holder:
        // with count 1 the first answer ends the lookup
        const ranked = byDistance(nodes.slice(3), key)
        const holders = new Set(
          byDistance(
            nodes.filter((n) => n !== nodes[1] && n !== nodes[2]),
            key
          )
            .slice(0, 20)
            .map((n) => n.id.toString())
        )
        let seeker: Node | undefined
        for (const candidate of ranked.slice(20)) {
          if ((yield* storedProviders(candidate, key)).length > 0) continue
          const seeds = yield* candidate.run(
            Effect.flatMap(RoutingTable, (t) => t.nearest(kadIdOfKey(key), simulationDefaults.alpha))
          )
          if (seeds.some((seed) => holders.has(seed.id.toString()))) {
            seeker = candidate
            break
          }
        }
        if (seeker === undefined) return expect.fail("no node reaches a holder in its first queries")

        const before = sim.hub.stats.requests
        const all = yield* findAll(seeker, cid, 0)
        const fullRequests = sim.hub.stats.requests - before
        const middle = sim.hub.stats.requests
        const one = yield* findAll(seeker, cid, 1)
        const limitedRequests = sim.hub.stats.requests - middle
        expect(all.length).toBe(2)
        expect(one.length).toBe(1)
        expect(limitedRequests).toBeGreaterThan(0)
        expect(limitedRequests).toBeLessThan(fullRequests)
        // Stream.take is another way to stop: the stream ends after the first provider
        const taken = yield* content(seeker, (c) => Stream.runCollect(Stream.take(c.findProviders(cid), 1)))
        expect(Chunk.size(taken)).toBe(1)

        // announce: false records locally only. The node still answers
        // GET_PROVIDERS with itself, so it is asked here by nodes whose
        // lookups never reach it: the farthest node from the key stays unseen
        // by the nodes closest to it.
        const quiet = yield* cidOf("quiet")
        const quietKey = quiet.multihash.bytes
        const quietRanked = byDistance(nodes, quietKey)
        const hermit = quietRanked.at(-1)!
        const oneWay = sim.hub.stats.oneWay
        expect(yield* content(hermit, (c) => c.provide(quiet, { announce: false }))).toBe(0)
        expect(sim.hub.stats.oneWay).toBe(oneWay)
        expect(ids(yield* findAll(hermit, quiet))).toEqual([hermit.id.toString()])
        for (const other of quietRanked.slice(0, 20)) expect(yield* findAll(other, quiet)).toEqual([])
        const provided = yield* content(hermit, (c) => c.providedKeys)
        expect(provided.some((k) => Buffer.from(k).equals(Buffer.from(quietKey)))).toBe(false)
        const asked = yield* nodes[0].run(
          Effect.flatMap(Network, (n) =>
            n.request(hermit.id, {
              type: MessageType.GET_PROVIDERS,
              key: quietKey as Uint8Array<ArrayBuffer>,
              closerPeers: [],
              providerPeers: []
            })
          )
        )
        expect(asked.providerPeers.length).toBe(1)

        // a multihash longer than 80 bytes cannot be a provider key
        const huge = CID.createV1(raw.code, identity.digest(new Uint8Array(100).fill(7)))
        const error = yield* Effect.flip(content(hermit, (c) => c.provide(huge)))
        expect(error).toBeInstanceOf(InvalidKeyError)
        const badCount = yield* Effect.flip(
          content(hermit, (c) => Stream.runDrain(c.findProviders(cid, { count: -1 })))
        )
        expect(badCount._tag).toBe("InvalidOptionError")
      }),
    60_000
  )

  it.scoped("ADD_PROVIDER entries naming another peer than the sender are dropped", () =>
    Effect.gen(function* () {
      const sim = yield* makeSimulation({ size: 10 }, layerContentRouting())
      const [sender, receiver, victim] = sim.nodes
      const senderInfo = yield* selfInfo(sender)
      const victimInfo = yield* selfInfo(victim)
      const spoofed = (yield* cidOf("spoofed")).multihash.bytes
      const mixed = (yield* cidOf("mixed")).multihash.bytes
      const honest = (yield* cidOf("honest")).multihash.bytes
      const send = (message: Message) => sender.run(Effect.flatMap(Network, (n) => n.send(receiver.id, message)))

      yield* send(addProvider(spoofed, [victimInfo]))
      yield* send(addProvider(mixed, [victimInfo, senderInfo]))
      yield* send(addProvider(honest, [senderInfo]))
      // messages are handled in order of arrival; once the last is stored, the others were handled
      yield* eventually(() => Effect.map(storedProviders(receiver, honest), (p) => p.length === 1))
      yield* eventually(() => Effect.map(storedProviders(receiver, mixed), (p) => p.length === 1))
      expect(yield* storedProviders(receiver, spoofed)).toEqual([])
      expect(ids(yield* storedProviders(receiver, mixed))).toEqual([sender.id.toString()])
      const stored = (yield* storedProviders(receiver, honest))[0]
      expect(stored.multiaddrs.map(String)).toEqual(senderInfo.multiaddrs.map(String))
    })
  )

  it.scoped(
    "reprovide keeps announced records alive past their validity; others expire",
    () =>
      Effect.gen(function* () {
        // Cleanup is off so that the test clock has fewer timers to run
        // through; expired records are not served either way.
        const sim = yield* makeSimulation(
          { size: 30 },
          layerContentRouting({
            provideValidity: "48 hours",
            reprovideInterval: "22 hours",
            cleanupInterval: Duration.infinity
          })
        )
        const nodes = sim.nodes
        const kept = yield* cidOf("kept alive")
        const dropped = yield* cidOf("let go")
        yield* content(nodes[0], (c) => c.provide(kept))
        yield* content(nodes[1], (c) => c.provide(dropped))
        expect(yield* content(nodes[1], (c) => c.stopProviding(dropped))).toBe(true)
        expect(yield* content(nodes[1], (c) => c.stopProviding(dropped))).toBe(false)
        const seeker = nodes[20]
        expect(ids(yield* findAll(seeker, dropped))).toEqual([nodes[1].id.toString()])

        for (let round = 1; round <= 3; round++) {
          const oneWay = sim.hub.stats.oneWay
          yield* TestClock.adjust(Duration.hours(22))
          // each round re-announces the one reprovided key to its 20 closest peers
          yield* eventually(() => Effect.succeed(sim.hub.stats.oneWay >= oneWay + 20))
          expect(sim.hub.stats.oneWay).toBe(oneWay + 20)
        }
        // 66 hours in: the reprovided record lives, the other expired everywhere
        expect(ids(yield* findAll(seeker, kept))).toEqual([nodes[0].id.toString()])
        expect(yield* findAll(seeker, dropped)).toEqual([])
        expect(yield* findAll(nodes[1], dropped)).toEqual([])
      }),
    60_000
  )

  it.scoped(
    "GET_PROVIDERS answers stay under the message limit however many providers a key has",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimulation({ size: 8 }, layerContentRouting())
        const [asker, server] = sim.nodes
        const key = (yield* cidOf("popular")).multihash.bytes
        const label = "a".repeat(60)
        const providers = (yield* generatePeerIds(500)).map((id, i) => ({
          id,
          // 64 addresses of about 200 bytes: some 13 kB per provider, 6 MB in all
          multiaddrs: Array.from({ length: 64 }, (_, j) =>
            multiaddr(`/dns4/${label}.${label}.${label}.host${i}-${j}.example/tcp/${4000 + j}`)
          )
        }))
        yield* server.run(
          Effect.flatMap(ProviderStoreService, (s) => Effect.forEach(providers, (p) => s.addProvider(key, p)))
        )
        const response = yield* asker.run(
          Effect.flatMap(Network, (n) =>
            n.request(server.id, {
              type: MessageType.GET_PROVIDERS,
              key: key as Uint8Array<ArrayBuffer>,
              closerPeers: [],
              providerPeers: []
            })
          )
        )
        const size = encodeMessage(response).byteLength
        expect(size).toBeLessThanOrEqual(MAX_GET_PROVIDERS_RESPONSE_SIZE)
        expect(response.providerPeers.length).toBeGreaterThan(200)
        expect(response.providerPeers.length).toBeLessThan(500)
        // as full as it can be: one more provider would not have fitted
        const providerCost = Message.Peer.encode(peerInfoToWire(providers[0])).byteLength + 4
        expect(size + providerCost).toBeGreaterThan(MAX_GET_PROVIDERS_RESPONSE_SIZE)
        expect(response.closerPeers.length).toBeGreaterThan(0)
        // in the store's order: a prefix of what it holds
        const stored = yield* storedProviders(server, key)
        expect(response.providerPeers.map((p) => Buffer.from(p.id!).toString("hex"))).toEqual(
          stored
            .slice(0, response.providerPeers.length)
            .map((p) => Buffer.from(p.id.toMultihash().bytes).toString("hex"))
        )

        // findProviders copes with the truncated answers
        const found = yield* findAll(asker, yield* cidOf("popular"), 50)
        expect(found.length).toBe(50)
      }),
    60_000
  )
})

describe("fitProviderPeers", () => {
  const peer = (addrBytes: number): Message.Peer => ({
    id: new Uint8Array(38).fill(1) as Uint8Array<ArrayBuffer>,
    addrs: [new Uint8Array(addrBytes).fill(2) as Uint8Array<ArrayBuffer>]
  })
  const base: Message = {
    type: MessageType.GET_PROVIDERS,
    key: new Uint8Array(34) as Uint8Array<ArrayBuffer>,
    closerPeers: [],
    providerPeers: []
  }

  it.prop(
    "keeps the longest prefix whose encoding fits the budget",
    [fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 60 }), fc.integer({ min: 40, max: 8000 })],
    ([sizes, budget]) => {
      const candidates = sizes.map(peer)
      const kept = fitProviderPeers(base, candidates, budget)
      expect(kept).toEqual(candidates.slice(0, kept.length))
      const encoded = encodeMessage({ ...base, providerPeers: kept }).byteLength
      expect(encoded).toBeLessThanOrEqual(budget)
      if (kept.length < candidates.length) {
        const oneMore = candidates.slice(0, kept.length + 1)
        expect(encodeMessage({ ...base, providerPeers: oneMore }).byteLength).toBeGreaterThan(budget)
      }
    }
  )
})
