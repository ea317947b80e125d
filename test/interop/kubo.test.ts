/**
 * kubo 0.43.1 (the Go IPFS daemon) as a real client of our DHT: kubo's
 * LAN DHT (`/ipfs/lan/kad/1.0.0`, which accepts loopback peers) is
 * connected to a few servers running our DHT under that protocol, and
 * content and names travel both ways: kubo's provider records and IPNS
 * records reach our nodes, and ours reach kubo's `routing findprovs` and
 * `name resolve`. kubo runs as a DHT client, so everything it finds was
 * served by our nodes.
 */

import { describe, expect, layer } from "@effect/vitest"
import { createIpnsRecord, decodeIpnsRecord, ipnsKey, ipnsValidator } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { multiaddr } from "@multiformats/multiaddr"
import { Context, Effect, Either, Layer, type Scope } from "effect"
import { unmarshalIPNSRecord } from "ipns"
import { CID } from "multiformats/cid"
import { sha256 } from "multiformats/hashes/sha2"
import { suiteCanRun } from "../support/toolchains.js"
import { randomKey, tcpPorts } from "./support/expect.js"
import {
  KUBO_EVENT_FINAL_PEER,
  KUBO_EVENT_PROVIDER,
  KUBO_VERSION,
  type KuboNode,
  type KuboQueryEvent,
  type LanServer,
  startKubo,
  startLanServer
} from "./support/kubo.js"
import { eventually } from "./support/network.js"
import { InteropError, OPERATION_TIMEOUT } from "./support/nodes.js"

/** How many servers run our DHT: fewer than k, so every lookup reaches all of them. */
const SERVERS = 4

const RAW_CODEC = 0x55

const randomCid = () => Effect.promise(async () => CID.createV1(RAW_CODEC, await sha256.digest(randomKey())))

const call = <A>(server: LanServer, operation: string, run: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({
    try: (signal) => run(signal),
    catch: (cause) => new InteropError({ node: server.name, operation, cause })
  })

const timeout = OPERATION_TIMEOUT

const tableHas = (server: LanServer, id: PeerId) =>
  call(server, "routingTable.listPeers", async () =>
    (await server.dht.routingTable.listPeers()).some((entry) => entry.id.equals(id))
  )

/** Fails unless every server lists every other server in its routing table. */
const fullMesh = (servers: ReadonlyArray<LanServer>) =>
  Effect.forEach(
    servers,
    (server) =>
      Effect.gen(function* () {
        for (const other of servers) {
          if (other !== server && !(yield* tableHas(server, other.peerId))) {
            return yield* new InteropError({
              node: server.name,
              operation: "routing table convergence",
              cause: `missing ${other.name}`
            })
          }
        }
      }),
    { discard: true }
  )

/** The peer IDs in kubo's LAN routing table. */
const kuboLanTable = (kubo: KuboNode) =>
  Effect.map(
    kubo.rpc<{ Buckets: ReadonlyArray<{ Peers: ReadonlyArray<{ ID: string }> | null }> | null }>("stats/dht", ["lan"]),
    (stats) =>
      stats.flatMap((dht) => (dht.Buckets ?? []).flatMap((bucket) => bucket.Peers ?? []).map((peer) => peer.ID))
  )

interface KuboNetworkShape {
  readonly kubo: KuboNode
  readonly servers: ReadonlyArray<LanServer>
}

class KuboNetwork extends Context.Tag("interop/KuboNetwork")<KuboNetwork, KuboNetworkShape>() {}

const makeKuboNetwork: Effect.Effect<KuboNetworkShape, InteropError, Scope.Scope> = Effect.gen(function* () {
  const servers = yield* Effect.forEach(
    Array.from({ length: SERVERS }, (_, i) => i),
    (i) => startLanServer(`ours-lan-${i}`),
    { concurrency: SERVERS }
  )
  // a ring, then self lookups until every server has every other one
  yield* Effect.forEach(
    servers,
    (server, i) => {
      const next = servers[(i + 1) % servers.length]
      return call(server, "connect", (signal) => server.host.dial(next.host.getMultiaddrs(), { signal }))
    },
    { concurrency: SERVERS, discard: true }
  )
  yield* eventually(
    Effect.zipRight(
      Effect.forEach(
        servers,
        (server) =>
          call(server, "refresh", (signal) =>
            server.dht.getClosestPeers(server.peerId.toMultihash().bytes, { signal, timeout })
          ),
        { concurrency: SERVERS, discard: true }
      ),
      fullMesh(servers)
    ),
    "30 seconds"
  )

  const kubo = yield* startKubo()
  for (const server of servers) {
    yield* kubo.rpc("swarm/connect", [server.host.getMultiaddrs()[0].toString()])
  }
  // kubo admits a server to its LAN table once identify shows the LAN protocol and a FIND_NODE check answers
  yield* eventually(
    Effect.flatMap(kuboLanTable(kubo), (table) => {
      const missing = servers.filter((server) => !table.includes(server.peerId.toString()))
      return missing.length === 0
        ? Effect.void
        : Effect.fail(
            new InteropError({
              node: kubo.name,
              operation: "LAN routing table",
              cause: `missing ${missing.map((s) => s.name).join(", ")}; has ${table.join(", ")}; kubo said: ${kubo.log()}`
            })
          )
    }),
    "30 seconds"
  )
  return { kubo, servers }
})

/** Every provider kubo's `routing findprovs` reports for `cid`. */
const kuboFindProviders = (kubo: KuboNode, cid: CID) =>
  Effect.map(kubo.rpc<KuboQueryEvent>("routing/findprovs", [cid.toString()], { "num-providers": 20 }), (events) =>
    events.filter((event) => event.Type === KUBO_EVENT_PROVIDER).flatMap((event) => event.Responses ?? [])
  )

describe.runIf(suiteCanRun("kubo interop", ["go"]))(`kubo ${KUBO_VERSION}`, () => {
  layer(Layer.scoped(KuboNetwork, makeKuboNetwork), { excludeTestServices: true, timeout: "20 minutes" })(
    "kubo over the LAN DHT",
    (it) => {
      it.effect("kubo's LAN routing table holds our servers and none of ours holds kubo (a DHT client)", () =>
        Effect.gen(function* () {
          const { kubo, servers } = yield* KuboNetwork
          const table = yield* kuboLanTable(kubo)
          expect([...table].sort()).toEqual(servers.map((s) => s.peerId.toString()).sort())
          for (const server of servers) expect(yield* tableHas(server, kubo.peerId)).toBe(false)
        })
      )

      it.effect("a file kubo adds: our servers find kubo as its provider, at kubo's address", () =>
        Effect.gen(function* () {
          const { kubo, servers } = yield* KuboNetwork
          const form = new FormData()
          form.append("file", new Blob([`kubo interop ${Date.now()} ${Math.random()}`]), "file.txt")
          const [added] = yield* kubo.rpc<{ Hash: string }>("add", [], { "cid-version": 1 }, form)
          const cid = CID.parse(added.Hash)
          for (const server of servers) {
            const found = yield* eventually(
              Effect.flatMap(
                call(server, "findProviders", async (signal) => {
                  const providers = []
                  for await (const p of server.dht.findProvidersAsync(cid, 0, { signal, timeout })) providers.push(p)
                  return providers
                }),
                (providers) => {
                  const match = providers.find((p) => p.id.equals(kubo.peerId))
                  return match === undefined
                    ? Effect.fail(new InteropError({ node: server.name, operation: "findProviders", cause: "no kubo" }))
                    : Effect.succeed(match)
                }
              ),
              "20 seconds"
            )
            expect(tcpPorts(found.multiaddrs)).toEqual(tcpPorts(kubo.addresses))
          }
        })
      )

      it.effect("a CID our server provides: kubo's routing findprovs finds our server, at its address", () =>
        Effect.gen(function* () {
          const { kubo, servers } = yield* KuboNetwork
          const provider = servers[1]
          const cid = yield* randomCid()
          yield* call(provider, "provide", (signal) => provider.dht.provide(cid, true, { signal, timeout }))
          const found = yield* kuboFindProviders(kubo, cid)
          const match = found.find((p) => p.ID === provider.peerId.toString())
          expect(match, `kubo found ${JSON.stringify(found)}`).toBeDefined()
          expect(tcpPorts((match?.Addrs ?? []).map((a) => multiaddr(a)))).toEqual(
            tcpPorts(provider.host.getMultiaddrs())
          )
        })
      )

      it.effect(
        "names kubo publishes (V1+V2, then a V2-only update): our getValue returns records our IPNS validator accepts",
        () =>
          Effect.gen(function* () {
            const { kubo, servers } = yield* KuboNetwork
            const key = ipnsKey(kubo.peerId)
            // kubo writes the legacy V1 fields by default; v1compat=false leaves only the signed CBOR data
            for (const [sequence, v1compat] of [
              [0n, true],
              [1n, false]
            ] as const) {
              const path = `/ipfs/${yield* randomCid()}`
              yield* kubo.rpc("name/publish", [path], { resolve: false, lifetime: "1h", v1compat })
              for (const server of servers) {
                const value = yield* call(server, "getValue", (signal) => server.dht.getValue(key, { signal, timeout }))
                expect(value, `${server.name} gets kubo's record`).not.toBeNull()
                yield* call(server, "validate", async () => ipnsValidator.validate(key, value!))
                const record = Either.getOrThrow(decodeIpnsRecord(key, value!))
                expect(new TextDecoder().decode(record.value)).toBe(path)
                expect(record.sequence).toBe(sequence)
                // the reference decoder agrees on which fields kubo wrote
                expect("signatureV1" in unmarshalIPNSRecord(value!), "legacy V1 signature present").toBe(v1compat)
              }
            }
          })
      )

      it.effect("a name our server publishes: kubo's name resolve returns its value", () =>
        Effect.gen(function* () {
          const { kubo, servers } = yield* KuboNetwork
          const publisher = servers[2]
          const target = yield* randomCid()
          const path = `/ipfs/${target}`
          const record = yield* call(publisher, "create record", () =>
            createIpnsRecord(publisher.privateKey, path, 1n, 60 * 60 * 1000)
          )
          yield* call(publisher, "putValue", (signal) =>
            publisher.dht.putValue(ipnsKey(publisher.peerId), record, { signal, timeout })
          )
          const [resolved] = yield* kubo.rpc<{ Path: string }>("name/resolve", [`/ipns/${publisher.peerId}`], {
            nocache: true,
            "dht-timeout": "20s"
          })
          expect(resolved.Path).toBe(path)
        })
      )

      it.effect("a server kubo has never met: kubo's routing findpeer learns its address from our servers", () =>
        Effect.scoped(
          Effect.gen(function* () {
            const { kubo, servers } = yield* KuboNetwork
            const late = yield* startLanServer("ours-lan-late")
            yield* call(late, "connect", (signal) => late.host.dial(servers[0].host.getMultiaddrs(), { signal }))
            yield* eventually(
              Effect.flatMap(tableHas(servers[0], late.peerId), (has) =>
                has
                  ? Effect.void
                  : Effect.fail(
                      new InteropError({ node: servers[0].name, operation: "admit", cause: "late server not admitted" })
                    )
              ),
              "10 seconds"
            )
            const events = yield* kubo.rpc<KuboQueryEvent>("routing/findpeer", [late.peerId.toString()])
            const found = events
              .filter((event) => event.Type === KUBO_EVENT_FINAL_PEER)
              .flatMap((event) => event.Responses ?? [])
              .find((p) => p.ID === late.peerId.toString())
            expect(found, `kubo's events: ${JSON.stringify(events)}`).toBeDefined()
            expect(tcpPorts((found?.Addrs ?? []).map((a) => multiaddr(a)))).toEqual(tcpPorts(late.host.getMultiaddrs()))
          })
        )
      )
    }
  )
})
