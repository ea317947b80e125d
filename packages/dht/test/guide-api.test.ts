import { describe, expect, it } from "@effect/vitest"
import { createIpnsRecord, ipnsKey, MemoryNetworkHub, MessageType, type PeerInfo } from "@effect-kad/core"
import { DHTConfig, type DHTOptions } from "@effect-kad/options"
import { ProviderStoreService } from "@effect-kad/providers"
import { RefreshManager, RoutingTable, RpcHandlers } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { type Context, Effect, Layer, Option, Queue, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import {
  Dht,
  DhtMode,
  type DhtServices,
  hostAddressChanges,
  IpfsDHT,
  MaxRetriesExceededException,
  NamespacedValidator,
  type Reachability,
  RecordStore,
  type Validator
} from "../src/index.js"

const permissive: Validator = { validate: () => undefined, select: (_key, values) => values.length - 1 }

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))

type Ctx = Context.Context<Dht | DhtServices>

interface Node {
  readonly id: PeerId
  readonly ctx: Ctx
  readonly run: <A, E>(effect: Effect.Effect<A, E, Dht | DhtServices>) => Effect.Effect<A, E>
}

const node = (
  hub: MemoryNetworkHub,
  options: DHTOptions,
  streams: { reachability?: Stream.Stream<Reachability>; addressChanges?: Stream.Stream<unknown> } = {}
) =>
  Effect.gen(function* () {
    const config = yield* DHTConfig.fromOptions({
      autoRefresh: false,
      filterLocalhostInResponses: false,
      emptyTableWait: 0,
      namespacedValidators: { test: permissive },
      ...options
    })
    const id = yield* newPeerId
    const ctx = yield* Layer.build(Dht.layerWith(config, hub.layer(id), streams.reachability, streams.addressChanges))
    return { id, ctx, run: (effect) => Effect.provide(effect, ctx) } satisfies Node
  })

const info = (id: PeerId): PeerInfo => ({ id, multiaddrs: [] })

const addPeer = (to: Node, peer: Node) => to.run(Effect.flatMap(RoutingTable, (t) => t.tryAdd(info(peer.id))))

/** Polls until `check` holds; bounded, so a behaviour that never comes fails the test instead of hanging it. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250; i++) {
      const value = yield* effect
      if (check(value)) return value
      yield* Effect.sleep(20)
    }
    return yield* Effect.dieMessage("condition never held")
  })

const currentMode = (n: Node) => n.run(Effect.flatMap(DhtMode, (m) => m.current))

const randomKey = () => crypto.getRandomValues(new Uint8Array(32))

describe("the guide's API: modes, options and errors", () => {
  it.scopedLive("autoServer serves until reachability is reported private, and again once it is public", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const signals = yield* Queue.unbounded<Reachability>()
      const auto = yield* node(hub, { mode: "autoServer" }, { reachability: Stream.fromQueue(signals) })
      const peer = yield* node(hub, { mode: "server" })
      // nothing said about reachability (a LAN, 127.0.0.1): it serves, so peers query it
      expect(yield* currentMode(auto)).toBe("server")
      yield* addPeer(peer, auto)
      const seen = yield* peer.run(Effect.flatMap(Dht, (d) => d.getClosestPeers(randomKey())))
      expect(seen.map((p) => p.id.toString())).toEqual([auto.id.toString()])
      yield* Queue.offer(signals, "private")
      yield* eventually(currentMode(auto), (m) => m === "client")
      yield* Queue.offer(signals, "public")
      yield* eventually(currentMode(auto), (m) => m === "server")
    })
  )

  it.scopedLive("onRequestHook sees every request served; a hook that throws costs no answer", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const seen: Array<{ from: string; type: unknown }> = []
      const server = yield* node(hub, {
        mode: "server",
        onRequestHook: (from, request) => {
          seen.push({ from: from.toString(), type: request.type })
          throw new Error("hook bug")
        }
      })
      const client = yield* node(hub, { mode: "client" })
      yield* addPeer(client, server)
      const closest = yield* client.run(Effect.flatMap(Dht, (d) => d.getClosestPeers(randomKey())))
      expect(closest.map((p) => p.id.toString())).toEqual([server.id.toString()])
      expect(seen).toContainEqual({ from: client.id.toString(), type: MessageType.FIND_NODE })
    })
  )

  it.scopedLive(
    "a DHT given the guide's NamespacedValidator still stores and serves valid /ipns records and refuses forged ones",
    () =>
      Effect.gen(function* () {
        const hub = new MemoryNetworkHub()
        // as the guide registers an application namespace: a validator of its own, no /ipns or /pk entry
        const validator = new NamespacedValidator({ myapp: permissive })
        const server = yield* node(hub, { mode: "server", validator })
        const writer = yield* node(hub, { mode: "client", validator })
        yield* addPeer(writer, server)
        const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const key = ipnsKey(peerIdFromPrivateKey(privateKey))
        const record = yield* Effect.promise(() =>
          createIpnsRecord(privateKey, "/ipfs/bafkqac3jobxhgidsn5rww4yk", 1n, 60 * 60 * 1000)
        )
        yield* writer.run(Effect.flatMap(Dht, (d) => d.putValue(key, record)))
        expect(yield* server.run(Effect.flatMap(RecordStore, (store) => store.get(key)))).toSatisfy(Option.isSome)
        const read = yield* writer.run(Effect.flatMap(Dht, (d) => d.getValue(key)))
        expect(read).toEqual(record)
        // the default /ipns validator is still in force: a record signed by another key is refused
        const otherKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
        const forged = yield* Effect.promise(() =>
          createIpnsRecord(otherKey, "/ipfs/bafkqac3jobxhgidsn5rww4yk", 2n, 60 * 60 * 1000)
        )
        const refused = yield* writer.run(Effect.flatMap(Dht, (d) => Effect.flip(d.putValue(key, forged))))
        expect(refused._tag).toBe("InvalidRecordError")
        expect(yield* server.run(Effect.flatMap(Dht, (d) => d.getValue(key)))).toEqual(record)
      })
  )

  it.scopedLive("disableValues and disableProviders: no handlers, operations fail with FeatureDisabledError", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const off = yield* node(hub, { mode: "server", disableValues: true, disableProviders: true })
      // unanswered requests wait out the request timeout: keep it short
      const on = yield* node(hub, { mode: "server", requestTimeout: "300 millis" })
      const registered = yield* off.run(Effect.flatMap(RpcHandlers, (r) => r.registered))
      expect(registered).toContain(MessageType.FIND_NODE)
      for (const type of [
        MessageType.PUT_VALUE,
        MessageType.GET_VALUE,
        MessageType.ADD_PROVIDER,
        MessageType.GET_PROVIDERS
      ]) {
        expect(registered).not.toContain(type)
      }
      const cid = CID.create(1, raw.code, yield* Effect.promise(async () => sha256.digest(new Uint8Array([1]))))
      const key = new TextEncoder().encode("/test/off")
      const failures = yield* off.run(
        Effect.gen(function* () {
          const dht = yield* Dht
          return [
            yield* Effect.flip(dht.putValue(key, new Uint8Array([1]))),
            yield* Effect.flip(dht.getValue(key)),
            yield* Effect.flip(Stream.runDrain(dht.searchValue(key))),
            yield* Effect.flip(dht.provide(cid)),
            yield* Effect.flip(Stream.runDrain(dht.findProviders(cid))),
            yield* Effect.flip(dht.advertise("ns")),
            yield* Effect.flip(Stream.runDrain(dht.findPeers("ns")))
          ]
        })
      )
      expect(failures.map((e) => e._tag)).toEqual(Array(7).fill("FeatureDisabledError"))
      expect(failures.map((e) => (e._tag === "FeatureDisabledError" ? e.feature : ""))).toEqual([
        "values",
        "values",
        "values",
        "providers",
        "providers",
        "providers",
        "providers"
      ])
      // a normal node that puts through it: the record is not stored there
      yield* addPeer(on, off)
      // the off node answers FIND_NODE, then never the PUT_VALUE: every request went unanswered
      const put = yield* on.run(Effect.flatMap(Dht, (d) => Effect.flip(d.putValue(key, new Uint8Array([2])))))
      expect(put._tag).toBe("MaxRetriesExceededException")
      if (put._tag === "MaxRetriesExceededException") {
        expect(put.operation).toBe("putValue")
        expect((put.lastCause as { _tag?: string })._tag).toBe("TimeoutError")
      }
      const stored = yield* off.run(Effect.flatMap(RecordStore, (s) => s.get(key)))
      expect(Option.isNone(stored)).toBe(true)
      yield* on.run(Effect.flatMap(Dht, (d) => d.provide(cid)))
      const providers = yield* off.run(Effect.flatMap(ProviderStoreService, (s) => s.getProviders(cid.multihash.bytes)))
      expect(providers).toEqual([])
    })
  )

  it.scopedLive(
    "queryFilter keeps lookups away from refused peers; routingTableFilter keeps them out of the table",
    () =>
      Effect.gen(function* () {
        const hub = new MemoryNetworkHub()
        const asked: Array<string> = []
        const refused = yield* node(hub, { mode: "server", onRequestHook: (from) => void asked.push(from.toString()) })
        const middle = yield* node(hub, { mode: "server" })
        yield* addPeer(middle, refused)
        const isRefused = (peer: PeerInfo) => !peer.id.equals(refused.id)
        const querier = yield* node(hub, { mode: "client", queryFilter: isRefused })
        yield* addPeer(querier, middle)
        // middle names the refused peer in its answer; the querier never asks it
        const closest = yield* querier.run(Effect.flatMap(Dht, (d) => d.getClosestPeers(refused.id)))
        expect(closest.map((p) => p.id.toString())).toEqual([middle.id.toString()])
        expect(asked).not.toContain(querier.id.toString())
        // an unfiltered node asks it
        const plain = yield* node(hub, { mode: "client" })
        yield* addPeer(plain, middle)
        yield* plain.run(Effect.flatMap(Dht, (d) => d.getClosestPeers(refused.id)))
        expect(asked).toContain(plain.id.toString())

        const guarded = yield* node(hub, { mode: "server", routingTableFilter: isRefused })
        expect(yield* addPeer(guarded, refused)).toBe(false)
        expect(yield* addPeer(guarded, middle)).toBe(true)
        const both = yield* node(hub, { mode: "server", peerFilter: isRefused })
        expect(yield* addPeer(both, refused)).toBe(false)
      })
  )

  it.scopedLive("a change of the node's addresses starts a refresh, whose self lookup reaches the closest peers", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const changes = yield* Queue.unbounded<void>()
      const asked: Array<string> = []
      const peer = yield* node(hub, { mode: "server", onRequestHook: (from) => void asked.push(from.toString()) })
      const moving = yield* node(
        hub,
        { mode: "server", autoRefresh: true },
        { addressChanges: Stream.fromQueue(changes) }
      )
      const status = moving.run(Effect.flatMap(RefreshManager, (r) => r.status))
      // the start-up refresh ran on an empty table
      yield* eventually(status, (s) => s.completed >= 1 && !s.running)
      yield* addPeer(moving, peer)
      expect(asked).not.toContain(moving.id.toString())
      yield* Queue.offer(changes, undefined)
      const after = yield* eventually(status, (s) => s.completed >= 2 && !s.running)
      const report = Option.getOrThrow(after.lastRefresh)
      expect(report.forced).toBe(false)
      expect(report.self).toBe("completed")
      expect(asked).toContain(moving.id.toString())
    })
  )

  it.scopedLive("bootstrapPeersFunc is asked when bootstrap runs", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const target = yield* node(hub, { mode: "server" })
      let calls = 0
      const joining = yield* node(hub, {
        mode: "server",
        bootstrapPeersFunc: () => {
          calls++
          return [{ id: target.id, multiaddrs: [] }]
        }
      })
      const report = yield* joining.run(Effect.flatMap(Dht, (d) => d.bootstrap({ quickConnectOnly: true })))
      expect(calls).toBeGreaterThan(0)
      expect(report.connected.map(String)).toEqual([target.id.toString()])
      expect(yield* joining.run(Effect.flatMap(RoutingTable, (t) => t.size))).toBe(1)
    })
  )
})

describe("hostAddressChanges", () => {
  it.scopedLive("signals when a host's own addresses change, not on updates that leave them as they were", () =>
    Effect.gen(function* () {
      let addrs = [multiaddr("/ip4/127.0.0.1/tcp/4001")]
      const events = new EventTarget()
      const host = { getMultiaddrs: () => addrs, events } as never
      const update = () => events.dispatchEvent(new Event("self:peer:update"))
      let signals = 0
      yield* Stream.runForEach(hostAddressChanges(host), () =>
        Effect.sync(() => {
          signals++
        })
      ).pipe(Effect.forkScoped)
      yield* Effect.sleep(20)
      update()
      yield* Effect.sleep(20)
      expect(signals).toBe(0)
      addrs = [multiaddr("/ip4/127.0.0.1/tcp/4001"), multiaddr("/ip4/192.168.1.5/tcp/4001")]
      update()
      yield* eventually(
        Effect.sync(() => signals),
        (n) => n === 1
      )
      update()
      addrs = [multiaddr("/ip4/192.168.1.5/tcp/4001")]
      update()
      yield* eventually(
        Effect.sync(() => signals),
        (n) => n === 2
      )
    })
  )
})

describe("MaxRetriesExceededException", () => {
  it.scopedLive("putValue and getValue fail with it, carrying the last failure, when no peer answered at all", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const a = yield* node(hub, { mode: "server" })
      const b = yield* node(hub, { mode: "server" })
      const c = yield* node(hub, { mode: "server" })
      const key = new TextEncoder().encode("/test/unreachable")
      const reAdd = Effect.zipRight(addPeer(a, b), addPeer(a, c))
      yield* reAdd
      yield* hub.kill(b.id)
      yield* hub.kill(c.id)
      const put = yield* a.run(Effect.flatMap(Dht, (d) => Effect.flip(d.putValue(key, new Uint8Array([1])))))
      expect(put._tag).toBe("MaxRetriesExceededException")
      if (put._tag !== "MaxRetriesExceededException") return
      expect(put.operation).toBe("putValue")
      expect(put.attempts).toBe(2)
      expect((put.lastCause as { _tag?: string })._tag).toBe("TransientNetworkError")
      expect(put.message).toMatch(/putValue: every request failed; gave up after 2 attempts/)
      // nothing stored is lost: the local copy stays
      expect(Option.isSome(yield* a.run(Effect.flatMap(RecordStore, (st) => st.get(key))))).toBe(true)

      const other = new TextEncoder().encode("/test/nobody-has-this")
      yield* reAdd
      const get = yield* a.run(Effect.flatMap(Dht, (d) => Effect.flip(d.getValue(other))))
      expect(get._tag).toBe("MaxRetriesExceededException")
      if (get._tag === "MaxRetriesExceededException") expect(get.operation).toBe("getValue")
      // with one peer answering, nothing found is NotFoundError again
      const d = yield* node(hub, { mode: "server" })
      yield* reAdd
      yield* addPeer(a, d)
      const missing = yield* a.run(Effect.flatMap(Dht, (dht) => Effect.flip(dht.getValue(other))))
      expect(missing._tag).toBe("NotFoundError")
    })
  )

  it.scopedLive("the Promise getValue rejects with it instead of resolving null", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const b = yield* node(hub, { mode: "server" })
      const config = yield* DHTConfig.fromOptions({ mode: "server", autoRefresh: false, emptyTableWait: 0 })
      const id = yield* newPeerId
      const dht = new IpfsDHT({ host: { peerId: id } as never }, Dht.layerWith(config, hub.layer(id)))
      yield* Effect.addFinalizer(() => Effect.promise(() => dht.close()))
      yield* Effect.promise(() => dht.effect(Effect.flatMap(RoutingTable, (t) => t.tryAdd(info(b.id)))))
      yield* hub.kill(b.id)
      const error = yield* Effect.promise(() =>
        dht.getValue("/pk/missing").then(
          () => undefined,
          (e: unknown) => e
        )
      )
      expect(error).toBeInstanceOf(MaxRetriesExceededException)
    })
  )
})

describe("the guide's Promise methods", () => {
  it.scopedLive("refresh, config, local providers and records, routing-table stats and health", () =>
    Effect.gen(function* () {
      const hub = new MemoryNetworkHub()
      const peer = yield* node(hub, { mode: "server" })
      const config = yield* DHTConfig.fromOptions({
        mode: "server",
        autoRefresh: false,
        filterLocalhostInResponses: false,
        emptyTableWait: 0,
        bucketSize: 16,
        namespacedValidators: { test: permissive }
      })
      const id = yield* newPeerId
      const dht = new IpfsDHT({ host: { peerId: id } as never }, Dht.layerWith(config, hub.layer(id)))
      yield* Effect.addFinalizer(() => Effect.promise(() => dht.close()))
      yield* Effect.promise(() => dht.start())
      yield* Effect.promise(() => dht.effect(Effect.flatMap(RoutingTable, (t) => t.tryAdd(info(peer.id)))))

      expect((yield* Effect.promise(() => dht.getConfig())).bucketSize).toBe(16)
      const plain = yield* Effect.promise(() => dht.refreshRoutingTable())
      expect(plain.forced).toBe(false)
      const forced = yield* Effect.promise(() => dht.forceRefresh())
      expect(forced.forced).toBe(true)
      expect(forced.self).toBe("completed")

      const stats = yield* Effect.promise(() => dht.routingTable.stats())
      expect(stats.size).toBe(1)
      expect(stats.refreshes).toBe(2)
      expect(stats.buckets.reduce((n, b) => n + b.size, 0)).toBe(1)
      const health = yield* Effect.promise(() => dht.routingTable.health())
      expect(health).toMatchObject({ size: 1, healthy: true, low: true, refreshing: false })
      expect(health.lastRefreshAt).toBeInstanceOf(Date)

      const cid = CID.create(1, raw.code, yield* Effect.promise(async () => sha256.digest(new Uint8Array([7]))))
      expect(yield* Effect.promise(() => dht.getLocalProviders(cid))).toEqual([])
      yield* Effect.promise(() => dht.addLocalProvider(cid, info(peer.id)))
      const local = yield* Effect.promise(() => dht.getLocalProviders(cid))
      expect(local.map((p) => p.id.toString())).toEqual([peer.id.toString()])

      const value = new TextEncoder().encode("hello")
      yield* Effect.promise(() => dht.putValue("/test/greeting", value))
      expect(yield* Effect.promise(() => dht.hasLocalRecord("/test/greeting"))).toBe(true)
      expect((yield* Effect.promise(() => dht.getLocalRecord("/test/greeting")))?.value).toEqual(value)
      expect(yield* Effect.promise(() => dht.removeLocalRecord("/test/greeting"))).toBe(true)
      expect(yield* Effect.promise(() => dht.hasLocalRecord("/test/greeting"))).toBe(false)
      expect(yield* Effect.promise(() => dht.getLocalRecord("/test/greeting"))).toBeNull()
      expect(yield* Effect.promise(() => dht.removeLocalRecord("/test/greeting"))).toBe(false)
      // the peer still holds its copy: removing is local
      const remote = yield* peer.run(
        Effect.flatMap(RecordStore, (s) => s.get(new TextEncoder().encode("/test/greeting")))
      )
      expect(Option.isSome(remote)).toBe(true)
    })
  )
})
