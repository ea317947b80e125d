import { describe, expect, it } from "@effect/vitest"
import {
  InvalidOptionError,
  isLoopbackAddress,
  isPrivateAddress,
  keepAllAddresses,
  MemoryNetworkHub,
  type Message,
  MessageType,
  Network,
  peerInfoFromWire
} from "@effect-kad/core"
import { DHTConfig, type DHTOption, effectiveAddressFilter } from "@effect-kad/options"
import { ProviderStoreService } from "@effect-kad/providers"
import { PeerRouting, RoutingTable } from "@effect-kad/routing"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { addressFilter, DHTMode, Dht, disableAutoRefresh, lanDHT, mode } from "../src/index.js"

const newPeerId = Effect.promise(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519")))
const addrs = (...list: Array<string>) => list.map((a) => multiaddr(a))
const strings = (list: ReadonlyArray<Multiaddr>) => list.map(String).sort()

const PUBLIC = "/ip4/203.0.113.5/tcp/4001"
const DNS = "/dns4/p1.example.org/tcp/4001"
const MIXED = [PUBLIC, "/ip4/192.168.1.5/tcp/4001", "/ip4/127.0.0.1/tcp/4001", DNS, "/ip6/fe80::1/tcp/4001"]
const PRIVATE_ONLY = ["/ip4/10.0.0.2/tcp/4001", "/ip6/fd00::2/tcp/4001"]

/** A DHT node on the hub with the given listen addresses, built in the test's scope. */
const node = (hub: MemoryNetworkHub, listen: ReadonlyArray<string>, options: ReadonlyArray<DHTOption> = []) =>
  Effect.gen(function* () {
    const id = yield* newPeerId
    const config = yield* DHTConfig.fromOptions([mode(DHTMode.server), disableAutoRefresh(), ...options])
    const context = yield* Layer.build(Dht.layerWith(config, hub.layer(id, addrs(...listen))))
    const run = <A, E>(
      effect: Effect.Effect<A, E, Network | RoutingTable | PeerRouting | Dht | ProviderStoreService>
    ) => Effect.provide(effect, context)
    return { id, run }
  })

type Node = Effect.Effect.Success<ReturnType<typeof node>>

/**
 * A server whose table holds `mixed` (public, private, loopback, DNS and
 * link-local addresses) and `hidden` (private addresses only); both are
 * live nodes on the hub.
 */
const network = (serverOptions: ReadonlyArray<DHTOption>) =>
  Effect.gen(function* () {
    const hub = new MemoryNetworkHub()
    const server = yield* node(hub, ["/ip4/198.51.100.1/tcp/4001"], serverOptions)
    const mixed = yield* node(hub, MIXED)
    const hidden = yield* node(hub, PRIVATE_ONLY)
    yield* server.run(
      Effect.flatMap(RoutingTable, (table) =>
        Effect.all([
          table.tryAdd({ id: mixed.id, multiaddrs: addrs(...MIXED) }),
          table.tryAdd({ id: hidden.id, multiaddrs: addrs(...PRIVATE_ONLY) })
        ])
      )
    )
    return { hub, server, mixed, hidden }
  })

/** Sends FIND_NODE to `to` from `from` and decodes the closer peers it answers with. */
const askFindNode = (from: Node, to: PeerId) =>
  from.run(
    Effect.gen(function* () {
      const net = yield* Network
      const response: Message = yield* net.request(to, {
        type: MessageType.FIND_NODE,
        key: new TextEncoder().encode("some key"),
        closerPeers: [],
        providerPeers: []
      })
      const peers = response.closerPeers.map((wire) => peerInfoFromWire(wire)!)
      return new Map(peers.map((p) => [p.id.toString(), strings(p.multiaddrs)]))
    })
  )

/**
 * A client (with `clientOptions`) that finds the providers of a key held by
 * a careless server (with `serverOptions`, handing out every address): one
 * provider announced with mixed addresses, one with private ones only. Both
 * are peers nobody met, so what the client's peer store holds of them came
 * from the answer (or from `clientKnows`, addresses it had of the second).
 */
const findCarelessProviders = (
  serverOptions: ReadonlyArray<DHTOption>,
  clientOptions: ReadonlyArray<DHTOption>,
  clientKnows: ReadonlyArray<string> = []
) =>
  Effect.gen(function* () {
    const hub = new MemoryNetworkHub()
    const server = yield* node(hub, ["/ip4/198.51.100.1/tcp/4001"], [addressFilter(keepAllAddresses), ...serverOptions])
    const mixed = yield* newPeerId
    const hidden = yield* newPeerId
    const cid = CID.createV1(raw.code, yield* Effect.promise(async () => sha256.digest(addrs(PUBLIC)[0].bytes)))
    yield* server.run(
      Effect.flatMap(ProviderStoreService, (store) =>
        Effect.all([
          store.addProvider(cid.multihash.bytes, { id: mixed, multiaddrs: addrs(...MIXED) }),
          store.addProvider(cid.multihash.bytes, { id: hidden, multiaddrs: addrs(...PRIVATE_ONLY) })
        ])
      )
    )
    const client = yield* node(hub, ["/ip4/203.0.113.77/tcp/4001"], [mode(DHTMode.client), ...clientOptions])
    return yield* client.run(
      Effect.gen(function* () {
        const net = yield* Network
        if (clientKnows.length > 0) yield* net.rememberAddresses({ id: hidden, multiaddrs: addrs(...clientKnows) })
        const table = yield* RoutingTable
        yield* table.tryAdd({ id: server.id, multiaddrs: addrs("/ip4/198.51.100.1/tcp/4001") })
        const found = yield* Effect.flatMap(Dht, (dht) => Stream.runCollect(dht.findProviders(cid)))
        return {
          mixed: mixed.toString(),
          hidden: hidden.toString(),
          providers: new Map(Chunk.toArray(found).map((p) => [p.id.toString(), strings(p.multiaddrs)])),
          stored: {
            mixed: strings(yield* net.addressesOf(mixed)),
            hidden: strings(yield* net.addressesOf(hidden))
          }
        }
      })
    )
  })

describe("address hygiene", () => {
  it("classifies mixed address sets: private, loopback and link-local out; public IPs and DNS names in", () => {
    const priv = addrs(
      "/ip4/10.1.2.3/tcp/1",
      "/ip4/172.16.0.1/tcp/1",
      "/ip4/192.168.0.1/udp/1/quic-v1",
      "/ip4/100.64.0.1/tcp/1",
      "/ip4/169.254.1.1/tcp/1",
      "/ip4/127.0.0.1/tcp/1",
      "/ip6/::1/tcp/1",
      "/ip6/fd12:3456::1/tcp/1",
      "/ip6/fe80::abcd/tcp/1",
      "/ip6/::ffff:192.168.1.1/tcp/1",
      "/dns4/localhost/tcp/1",
      "/dns/printer.local/tcp/1"
    )
    const pub = addrs(
      "/ip4/8.8.8.8/tcp/1",
      "/ip4/172.32.0.1/tcp/1",
      "/ip6/2001:4860::8888/tcp/1",
      "/ip6/::ffff:8.8.8.8/tcp/1",
      "/dns4/bootstrap.libp2p.io/tcp/443/wss",
      "/dnsaddr/bootstrap.libp2p.io",
      "/memory/7"
    )
    for (const a of priv) expect([String(a), isPrivateAddress(a)]).toEqual([String(a), true])
    for (const a of pub) expect([String(a), isPrivateAddress(a)]).toEqual([String(a), false])
    expect(addrs("/ip4/127.0.0.9/tcp/1", "/ip6/::1/tcp/1", "/dns/localhost/tcp/1").every(isLoopbackAddress)).toBe(true)
    expect(isLoopbackAddress(multiaddr("/ip4/10.0.0.1/tcp/1"))).toBe(false)
  })

  it.effect("the default filter follows the protocol: public keeps public addresses, LAN keeps every one", () =>
    Effect.gen(function* () {
      const all = addrs(...MIXED, ...PRIVATE_ONLY)
      const pub = effectiveAddressFilter(yield* DHTConfig.fromOptions({}))
      expect(strings(pub(all))).toEqual(strings(addrs(PUBLIC, DNS)))
      const loopbackToo = effectiveAddressFilter(yield* DHTConfig.fromOptions({ filterLocalhostInResponses: false }))
      expect(strings(loopbackToo(all))).toEqual(strings(addrs(PUBLIC, DNS, "/ip4/127.0.0.1/tcp/4001")))
      const lanConfig = yield* DHTConfig.fromOptions([lanDHT()])
      expect(DHTConfig.protocol(lanConfig)).toBe("/ipfs/lan/kad/1.0.0")
      expect(strings(effectiveAddressFilter(lanConfig)(all))).toEqual(strings(all))
      const custom = effectiveAddressFilter(yield* DHTConfig.fromOptions([addressFilter((a) => a.slice(0, 1))]))
      expect(custom(all).length).toBe(1)
    })
  )

  it.effect("an address filter that is not a function is refused with a typed error naming the field", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(DHTConfig.fromOptions({ addressFilter: "public" as never }))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left).toBeInstanceOf(InvalidOptionError)
        expect(result.left.field).toBe("addressFilter")
        expect(result.left.reason).toMatch(/must be a function/)
      }
    })
  )

  it.scoped("localhost filtering in answers: a public DHT answers a remote requester with public addresses only", () =>
    Effect.gen(function* () {
      const { hub, server, mixed, hidden } = yield* network([])
      const remote = yield* node(hub, ["/ip4/203.0.113.77/tcp/4001"], [mode(DHTMode.client)])
      const answer = yield* askFindNode(remote, server.id)
      expect(answer.get(mixed.id.toString())).toEqual(strings(addrs(PUBLIC, DNS)))
      // reachable only on the server's private network: of no use to the requester
      expect(answer.has(hidden.id.toString())).toBe(false)
    })
  )

  it.scoped("localhost filtering in answers: a requester on this machine (over loopback) gets every address", () =>
    Effect.gen(function* () {
      const { hub, server, mixed, hidden } = yield* network([])
      const local = yield* node(hub, ["/ip4/127.0.0.1/tcp/5001"], [mode(DHTMode.client)])
      const answer = yield* askFindNode(local, server.id)
      expect(answer.get(mixed.id.toString())).toEqual(strings(addrs(...MIXED)))
      expect(answer.get(hidden.id.toString())).toEqual(strings(addrs(...PRIVATE_ONLY)))
    })
  )

  it.scoped("a LAN DHT keeps private and loopback addresses in its answers", () =>
    Effect.gen(function* () {
      const { hub, server, mixed, hidden } = yield* network([lanDHT()])
      const remote = yield* node(hub, ["/ip4/192.168.1.77/tcp/4001"], [lanDHT(), mode(DHTMode.client)])
      const answer = yield* askFindNode(remote, server.id)
      expect(answer.get(mixed.id.toString())).toEqual(strings(addrs(...MIXED)))
      expect(answer.get(hidden.id.toString())).toEqual(strings(addrs(...PRIVATE_ONLY)))
    })
  )

  it.scoped("lookups on a public DHT neither remember nor query private addresses handed out by a careless peer", () =>
    Effect.gen(function* () {
      // the server hands out every address, as js did before it filtered by default
      const { hub, server, mixed, hidden } = yield* network([addressFilter(keepAllAddresses)])
      const client = yield* node(hub, ["/ip4/203.0.113.77/tcp/4001"], [mode(DHTMode.client)])
      // what the client keeps of the careless answer: public addresses, no peer reachable only privately
      const learned = yield* client.run(
        Effect.gen(function* () {
          const net = yield* Network
          const routing = yield* PeerRouting
          const response = yield* net.request(server.id, {
            type: MessageType.FIND_NODE,
            key: new TextEncoder().encode("some key"),
            closerPeers: [],
            providerPeers: []
          })
          expect(response.closerPeers.length).toBe(2)
          const peers = yield* routing.closerPeersFrom(server.id, response)
          return {
            peers: new Map(peers.map((p) => [p.id.toString(), strings(p.multiaddrs)])),
            stored: yield* Effect.all([net.addressesOf(mixed.id), net.addressesOf(hidden.id)])
          }
        })
      )
      expect(learned.peers.get(mixed.id.toString())).toEqual(strings(addrs(PUBLIC, DNS)))
      expect(learned.peers.has(hidden.id.toString())).toBe(false)
      expect(strings(learned.stored[0])).toEqual(strings(addrs(PUBLIC, DNS)))
      expect(learned.stored[1]).toEqual([])

      // and a lookup through that peer never queries the peer it could only reach privately
      yield* client.run(
        Effect.flatMap(RoutingTable, (table) =>
          table.tryAdd({ id: server.id, multiaddrs: addrs("/ip4/198.51.100.1/tcp/4001") })
        )
      )
      const events = yield* client.run(
        Effect.flatMap(PeerRouting, (routing) =>
          routing.getClosestPeersStream(mixed.id.toMultihash().bytes).pipe(Stream.runCollect)
        )
      )
      const queried = Chunk.toArray(events)
        .filter((e) => e._tag === "QuerySent")
        .map((e) => e.peer.toString())
      expect(queried).toContain(mixed.id.toString())
      expect(queried).not.toContain(hidden.id.toString())
      expect(yield* client.run(Effect.flatMap(Network, (net) => net.addressesOf(hidden.id)))).toEqual([])
    })
  )

  it.scoped(
    "finding providers on a public DHT keeps their public and DNS addresses only, and still every provider",
    () =>
      Effect.gen(function* () {
        const found = yield* findCarelessProviders([], [])
        expect([...found.providers.keys()].sort()).toEqual([found.mixed, found.hidden].sort())
        expect(found.providers.get(found.mixed)).toEqual(strings(addrs(PUBLIC, DNS)))
        // reachable only on someone else's network: a provider all the same, without addresses
        expect(found.providers.get(found.hidden)).toEqual([])
        // and nothing private was remembered to be dialed later
        expect(found.stored).toEqual({ mixed: strings(addrs(PUBLIC, DNS)), hidden: [] })
      })
  )

  it.scoped("a provider whose given addresses are all dropped gets those the peer store knows of it", () =>
    Effect.gen(function* () {
      const known = "/dns4/hidden.example.org/tcp/4001"
      const found = yield* findCarelessProviders([], [], [known])
      expect(found.providers.get(found.hidden)).toEqual([known])
      expect(found.stored.hidden).toEqual([known])
    })
  )

  it.scoped("finding providers on a LAN DHT keeps their private and loopback addresses", () =>
    Effect.gen(function* () {
      const found = yield* findCarelessProviders([lanDHT()], [lanDHT()])
      expect(found.providers.get(found.mixed)).toEqual(strings(addrs(...MIXED)))
      expect(found.providers.get(found.hidden)).toEqual(strings(addrs(...PRIVATE_ONLY)))
      expect(found.stored.mixed).toEqual(strings(addrs(...MIXED)))
    })
  )
})
