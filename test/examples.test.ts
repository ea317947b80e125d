/**
 * Runs every example of examples/ (the developer guide in TypeScript)
 * against real libp2p hosts on 127.0.0.1 or the in-memory network, and
 * checks what each one returns.
 *
 * Four `ServerNode`s (the guide's server example) form the shared network;
 * the other examples join it as clients or servers. Everything started is
 * stopped in afterAll, last started first.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import {
  bootstrapPeers,
  bucketSize,
  DHT,
  DHTConfig,
  type DHTConfig as DHTConfigType,
  DHTMode,
  Dht,
  disableAutoRefresh,
  filterLocalhostInResponses,
  type IpfsDHT,
  MaxRetriesExceededException,
  MemoryNetworkHub,
  MemoryProviderStore,
  maxDhtMessageRetries,
  mode,
  NamespacedValidator,
  requestTimeout,
  resiliency,
  resolveOptions,
  validator as validatorOption
} from "@effect-kad/dht"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { PrivateKey } from "@libp2p/interface"
import { Duration, Effect, Either, LogLevel, Option, Stream } from "effect"
import type { Libp2p } from "libp2p"
import { afterAll, beforeAll } from "vitest"
import {
  createDhtWithCustomValidator,
  MyAppValidator,
  myAppValidator,
  parseMyAppRecord,
  signMyAppRecord
} from "../examples/advanced/custom-validator.js"
import { averageLatency, NetworkMonitor } from "../examples/advanced/network-monitor.js"
import { RobustDHTClient } from "../examples/advanced/robust-client.js"
import { appValidator } from "../examples/app-validator.js"
import {
  addrInfoOf,
  clientNodeOptions,
  createClientNode,
  createServerNode,
  createWithFunctionalOptions,
  functionalOptions,
  guideOptionsReference,
  joinViaCombinators,
  joinViaOptions,
  publicBootstrapViaCombinators,
  publicBootstrapViaOptions
} from "../examples/configuration.js"
import { providerRecords, routingTableInfo } from "../examples/core-concepts.js"
import { bootstrapAddressOf, createLibp2pHost } from "../examples/host.js"
import { BasicP2PApp } from "../examples/integration/basic-p2p-app.js"
import { createLibp2pWithDht, findThroughLibp2p, provideThroughLibp2p } from "../examples/integration/libp2p-service.js"
import { MobileP2PApp } from "../examples/integration/mobile-p2p-app.js"
import { loadBootstrapPeers, ServerNode } from "../examples/integration/server-node.js"
import { HighPerformanceDHT } from "../examples/performance/high-performance.js"
import { DHTMemoryManager } from "../examples/performance/memory-manager.js"
import { MobileOptimizedDHT } from "../examples/performance/mobile-optimized.js"
import { DHTPerformanceMonitor, formatPerformanceStats } from "../examples/performance/performance-monitor.js"
import { basicDhtNode, cidForText, keyOperations, startBasicNode } from "../examples/quick-start.js"
import { initializeClientNode, startInMemoryNetwork, startInMemoryNode } from "../examples/testing/in-memory-network.js"
import { peerDiscoveryBetweenTwoNodes } from "../examples/testing/two-node-integration.js"
import { checkBootstrapConnectivity } from "../examples/troubleshooting/bootstrap-connectivity.js"
import { DHTHealthChecker } from "../examples/troubleshooting/health-checker.js"
import {
  createIpfsDHTWithLogging,
  dhtLogging,
  guideFormatLogger,
  setupDHTLogging,
  withLogging
} from "../examples/troubleshooting/logging.js"
import { MemoryConstrainedNode } from "../examples/troubleshooting/memory-constrained.js"
import { ensureRoutingTable, findPeerMultiMethod } from "../examples/troubleshooting/peer-discovery-issues.js"
import { ContentRouter } from "../examples/usage/content-router.js"
import { DistributedStorage, encodeStoredText, storageValidator } from "../examples/usage/distributed-storage.js"
import { PeerDiscoveryService } from "../examples/usage/peer-discovery.js"

const SERVERS = 4
const utf8 = new TextEncoder()
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : new TextDecoder().decode(bytes))

/** Releases of everything started, run last-first in afterAll. */
const teardown: Array<() => unknown> = []
const servers: Array<{ readonly host: Libp2p; readonly node: ServerNode }> = []
let publisher: PrivateKey
let stranger: PrivateKey
let validator: NamespacedValidator
let workDir: string

const newHost = async (): Promise<Libp2p> => {
  const host = await createLibp2pHost()
  teardown.push(() => host.stop())
  return host
}

const closing = <T extends { close(): Promise<void> }>(dht: T): T => {
  teardown.push(() => dht.close())
  return dht
}

const bootstrapList = (): Array<string> => servers.map((s) => bootstrapAddressOf(s.host))
const serverDht = (i: number): IpfsDHT => servers[i].node.dht
const serverId = (i: number) => servers[i].host.peerId

/** A client node of the application (auto mode on loopback stays a client), joined to the shared network. */
const joinClient = async (): Promise<{ host: Libp2p; dht: IpfsDHT }> => {
  const host = await newHost()
  const dht = closing(await joinViaOptions(host, bootstrapList(), validator))
  return { host, dht }
}

const configOf = (dht: IpfsDHT): Promise<DHTConfigType> => dht.effect(Effect.map(Dht, (d) => d.config))

const collect = async <A>(iterable: AsyncIterable<A>): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const item of iterable) out.push(item)
  return out
}

/** Polls `check` until it holds or `timeoutMillis` passes. */
const eventually = async (check: () => boolean | Promise<boolean>, timeoutMillis = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMillis
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Runs `produce` until `accept` holds for its result (or `timeoutMillis`
 * passes) and returns the last result. For provider records: ADD_PROVIDER
 * has no answer, so `provide` resolves before the servers have stored it.
 */
const until = async <A>(
  produce: () => Promise<A>,
  accept: (value: A) => boolean,
  timeoutMillis = 10_000
): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const value = await produce()
    if (accept(value) || Date.now() > deadline) return value
    await sleep(50)
  }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** A peer ID nobody in the network has: its host is stopped before anyone learns of it. */
const absentPeer = async () => {
  const host = await createLibp2pHost()
  const address = bootstrapAddressOf(host)
  await host.stop()
  return { id: host.peerId, address }
}

beforeAll(async () => {
  ;[publisher, stranger] = await Promise.all([generateKeyPair("Ed25519"), generateKeyPair("Ed25519")])
  validator = appValidator(publisher.publicKey)
  workDir = await mkdtemp(join(tmpdir(), "effect-kad-examples-"))
  teardown.push(() => rm(workDir, { recursive: true, force: true }))
  for (let i = 0; i < SERVERS; i++) {
    const host = await newHost()
    // each server reads the addresses of the servers before it from a bootstrap file
    const file = join(workDir, `bootstrap-${i}.json`)
    await writeFile(file, JSON.stringify(bootstrapList()))
    const node = new ServerNode()
    teardown.push(() => node.shutdown())
    await node.initialize(host, {
      loadBootstrapPeers: () => loadBootstrapPeers(file),
      // every node here is on 127.0.0.1: let the servers hand out loopback addresses (see examples/README.md)
      appOptions: [validatorOption(validator), filterLocalhostInResponses(false)]
    })
    servers.push({ host, node })
  }
}, 60_000)

afterAll(async () => {
  const failures: Array<unknown> = []
  for (const release of teardown.splice(0).reverse()) {
    try {
      await release()
    } catch (error) {
      failures.push(error)
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, "cleanup failed")
}, 60_000)

describe("Quick Start", () => {
  it("basic node: starts in auto mode, bootstraps, reports, and cleans up", async () => {
    const report = await basicDhtNode(bootstrapList())
    // auto mode on a loopback-only host stays a client: it has no public address
    expect(report.mode).toBe("client")
    expect(report.routingTableSize).toBeGreaterThanOrEqual(SERVERS)
    expect(report.peerId).toMatch(/^12D3KooW/)
  })

  it("key operations: findPeer, provide, findProvidersAsync, putValue, getValue", async () => {
    const host = await newHost()
    const dht = closing(await startBasicNode(host, bootstrapList()))
    const cid = await cidForText("quick start content")
    const result = await keyOperations(dht, serverId(2), cid)
    expect(result.peerInfo?.id.equals(serverId(2))).toBe(true)
    expect(result.peerInfo?.multiaddrs.length).toBeGreaterThan(0)
    expect(result.providers).toEqual([host.peerId.toString()])
    expect(result.value).toBe("my-value")
    // the network saw both: another node finds the provider and the value
    const providers = await until(
      () => collect(serverDht(0).findProvidersAsync(cid, 1)),
      (found) => found.length > 0
    )
    expect(providers.map((p) => p.id.toString())).toEqual([host.peerId.toString()])
    expect(text(await serverDht(3).getValue("/notes/my-key"))).toBe("my-value")
  })
})

describe("Core Concepts", () => {
  it("routing table size and the closest peers to a target", async () => {
    const { dht } = await joinClient()
    const info = await routingTableInfo(dht, serverId(1))
    expect(info.tableSize).toBeGreaterThanOrEqual(SERVERS)
    expect(info.closestPeers.map((p) => p.id.toString())).toContain(serverId(1).toString())
  })

  it("provider records: one node announces, another finds it", async () => {
    const { dht } = await joinClient()
    const cid = await cidForText("core concepts content")
    const found = await until(
      () => providerRecords(serverDht(0), dht, cid),
      (providers) => providers.length > 0
    )
    expect(found.map((p) => p.id.toString())).toEqual([serverId(0).toString()])
  })
})

describe("Configuration Guide", () => {
  it("the DHTOptions reference object spells out the defaults", () => {
    const config = Either.getOrThrow(resolveOptions(guideOptionsReference))
    const defaults = DHTConfig.defaults
    expect(config.mode).toBe(defaults.mode)
    expect([config.bucketSize, config.concurrency, config.resiliency]).toEqual([
      defaults.bucketSize,
      defaults.concurrency,
      defaults.resiliency
    ])
    for (const field of ["provideValidity", "providerAddrTTL", "retryInitialBackoff", "retryMaxBackoff"] as const) {
      expect(Duration.equals(config[field], defaults[field])).toBe(true)
    }
    expect(config.maxRetryAttempts).toBe(defaults.maxRetryAttempts)
    expect(config.retryBackoffFactor).toBe(defaults.retryBackoffFactor)
    expect(config.autoRefresh).toBe(true)
    expect(config.filterLocalhostInResponses).toBe(true)
    expect(config.bootstrapPeers).toEqual([])
  })

  it("client node options: a client with the small settings", async () => {
    const host = await newHost()
    const dht = closing(createClientNode(host, new MemoryProviderStore(), validator))
    await dht.start()
    expect(await dht.mode()).toBe("client")
    expect(host.getProtocols()).not.toContain("/ipfs/kad/1.0.0")
    const config = await configOf(dht)
    expect([config.bucketSize, config.concurrency, config.resiliency, config.maxRetryAttempts]).toEqual([15, 5, 2, 2])
    expect(clientNodeOptions.mode).toBe(DHTMode.client)
  })

  it("server node options: a server that serves the protocol", async () => {
    const host = await newHost()
    const dht = closing(createServerNode(host, new MemoryProviderStore(), validator))
    await dht.start()
    expect(await dht.mode()).toBe("server")
    expect(host.getProtocols()).toContain("/ipfs/kad/1.0.0")
    const config = await configOf(dht)
    expect([config.bucketSize, config.concurrency, config.resiliency, config.autoRefresh]).toEqual([30, 15, 5, true])
  })

  it("functional options: DHT.new_ with the guide's list, joined through AddrInfo-style peers", async () => {
    const host = await newHost()
    const peers = servers.slice(0, 2).map((s) => addrInfoOf(s.host))
    const dht = closing(await createWithFunctionalOptions(host, new MemoryProviderStore(), peers, validator))
    const config = await configOf(dht)
    expect(config.mode).toBe("auto")
    expect([config.bucketSize, config.concurrency, config.resiliency, config.maxRetryAttempts]).toEqual([25, 12, 4, 5])
    expect(Duration.toMillis(config.retryInitialBackoff)).toBe(250)
    expect(Duration.toMillis(config.retryMaxBackoff)).toBe(15_000)
    expect(config.enableOptimisticProvide).toBe(true)
    expect(config.optimisticProvideJobsPoolSize).toBe(100)
    expect(config.bootstrapPeers.map((p) => p.id.toString())).toEqual([serverId(0).toString(), serverId(1).toString()])
    await dht.bootstrap()
    expect((await dht.findPeer(serverId(3)))?.id.equals(serverId(3))).toBe(true)
  })

  it("a bad value in an option list is reported with its field", async () => {
    const host = await newHost()
    await expect(
      DHT.new_(host, new MemoryProviderStore(), [...functionalOptions([]), resiliency(40)])
    ).rejects.toMatchObject({ _tag: "InvalidOptionError", field: "resiliency" })
  })

  it("bootstrap config with the public peers resolves (both methods) without dialing anything", () => {
    const viaOptions = Either.getOrThrow(resolveOptions(publicBootstrapViaOptions)).bootstrapPeers
    expect(viaOptions.map((p) => p.id.toString())).toEqual([
      "QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
      "QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM"
    ])
    // the /p2p/ part is taken off: it names the peer, not where to dial it
    expect(viaOptions.map((p) => p.multiaddrs.map(String))).toEqual([
      ["/ip4/104.131.131.82/tcp/4001"],
      ["/ip4/104.236.179.241/tcp/4001"]
    ])
    const viaCombinators = Either.getOrThrow(resolveOptions([...publicBootstrapViaCombinators])).bootstrapPeers
    expect(viaCombinators.map((p) => [p.id.toString(), p.multiaddrs.map(String)])).toEqual([
      ["QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ", ["/ip4/104.131.131.82/tcp/4001"]]
    ])
  })

  it("bootstrap method 1 (multiaddrs) and method 2 (peer ID + addresses) both join loopback peers", async () => {
    const viaOptions = closing(await joinViaOptions(await newHost(), bootstrapList(), validator))
    const viaCombinators = closing(
      await joinViaCombinators(
        await newHost(),
        servers.map((s) => addrInfoOf(s.host)),
        validator
      )
    )
    for (const dht of [viaOptions, viaCombinators]) {
      expect(await dht.routingTable.size()).toBeGreaterThanOrEqual(SERVERS)
      expect((await dht.findPeer(serverId(0)))?.id.equals(serverId(0))).toBe(true)
    }
  })
})

describe("Usage Patterns", () => {
  it("PeerDiscoveryService.findPeerWithRetry: finds a peer, gives null for an absent one, rethrows the last error", async () => {
    const { dht } = await joinClient()
    const service = new PeerDiscoveryService(dht)
    const found = await service.findPeerWithRetry(serverId(3), { retryDelay: 10 })
    expect(found?.id.equals(serverId(3))).toBe(true)

    const absent = await absentPeer()
    const started = Date.now()
    expect(await service.findPeerWithRetry(absent.id, { maxAttempts: 2, retryDelay: 100 })).toBeNull()
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)

    const closed = new PeerDiscoveryService(closing(await joinViaOptions(await newHost(), bootstrapList())))
    await closed.dht.close()
    await expect(closed.findPeerWithRetry(serverId(0), { maxAttempts: 2, retryDelay: 10 })).rejects.toMatchObject({
      _tag: "DHTClosedError"
    })
  })

  it("PeerDiscoveryService.discoverPeersInNamespace: finds the peers advertising in it", async () => {
    const a = await joinClient()
    const b = await joinClient()
    const seeker = await joinClient()
    expect(await a.dht.advertise("chat-room")).toBeGreaterThan(0)
    await b.dht.advertise("chat-room")
    const discovery = new PeerDiscoveryService(seeker.dht)
    const members = await until(
      async () => {
        const ids: Array<string> = []
        for await (const peer of discovery.discoverPeersInNamespace("chat-room")) ids.push(peer.id.toString())
        return ids
      },
      (ids) => ids.length >= 2
    )
    expect(members).toEqual(expect.arrayContaining([a.host.peerId.toString(), b.host.peerId.toString()]))
    expect(members).not.toContain(seeker.host.peerId.toString())
  })

  it("ContentRouter: announce, find with a limit, find with a timeout", async () => {
    const provider = await joinClient()
    const other = await joinClient()
    const seeker = new ContentRouter((await joinClient()).dht)
    const cid = await cidForText("content router content")
    await new ContentRouter(provider.dht).announceContent(cid)
    await new ContentRouter(other.dht).announceContent(cid)

    const all = await until(
      () => seeker.findContentProviders(cid),
      (found) => found.length === 2
    )
    expect(all.map((p) => p.id.toString()).sort()).toEqual(
      [provider.host.peerId.toString(), other.host.peerId.toString()].sort()
    )
    expect(all.every((p) => p.multiaddrs.length > 0)).toBe(true)
    expect(await seeker.findContentProviders(cid, 1)).toHaveLength(1)

    const withTimeout = await seeker.findContentWithTimeout(cid, 10_000)
    expect(withTimeout).toHaveLength(2)

    const started = Date.now()
    expect(await seeker.findContentWithTimeout(await cidForText("nobody has this"), 3_000)).toEqual([])
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it("DistributedStorage: store, retrieve, and retrieveBest returns the newest value", async () => {
    const [a, b, c] = [await joinClient(), await joinClient(), await joinClient()]
    const storageA = new DistributedStorage(a.dht)
    const storageB = new DistributedStorage(b.dht)
    const storageC = new DistributedStorage(c.dht)
    await storageA.store("profile", "v1")
    expect(await storageB.retrieve("profile")).toBe("v1")
    await sleep(5) // a later timestamp
    await storageC.store("profile", "v2")
    // a still holds v1 locally; the lookup finds the newer v2 on the servers
    expect(await storageA.retrieve("profile")).toBe("v2")
    expect(await storageB.retrieveBest("profile")).toBe("v2")
    expect(await storageB.retrieve("never-stored")).toBeNull()
    // the storage validator refuses values that are not stored text
    await expect(a.dht.putValue("/storage/raw", utf8.encode("not json"))).rejects.toMatchObject({
      _tag: "InvalidRecordError"
    })
  })

  // like the guide's searchValue, a search for a key nobody stored ends without values
  it("DistributedStorage.retrieveBest of a key nobody stored is null", async () => {
    const { dht } = await joinClient()
    expect(await new DistributedStorage(dht).retrieveBest("never-stored")).toBeNull()
  })

  it("the storage validator prefers the newest value, whatever the order", () => {
    const key = utf8.encode("/storage/k")
    const values = [encodeStoredText("old", 1), encodeStoredText("newest", 3), encodeStoredText("middle", 2)]
    expect(storageValidator.select(key, values)).toBe(1)
    expect(storageValidator.select(key, [values[2], values[0], values[1]])).toBe(2)
    expect(() => storageValidator.validate(key, utf8.encode('{"value":1}'))).toThrow()
  })
})

describe("Integration Examples", () => {
  it("BasicP2PApp: announce a service, find the peers offering it, shut down", async () => {
    const appA = new BasicP2PApp({ bootstrap: bootstrapList() })
    const appB = new BasicP2PApp({ bootstrap: bootstrapList() })
    teardown.push(
      () => appA.shutdown(),
      () => appB.shutdown()
    )
    await appA.initialize()
    await appB.initialize()
    const identity = appA.identity()
    expect(identity.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    await appA.announceService("file-sharing")
    await appB.announceService("file-sharing")
    const peers = await until(
      () => appA.findServicePeers("file-sharing"),
      (found) => found.length >= 2
    )
    expect(peers.map((p) => p.id.toString())).toContain(appB.identity().peerId)
    await appA.shutdown()
    expect(() => appA.identity()).toThrow(/initialize/)
  })

  it("MobileP2PApp: a client refreshing on a timer that shutdown clears", async () => {
    const host = await newHost()
    const app = new MobileP2PApp()
    teardown.push(() => app.shutdown())
    await app.initialize(host, bootstrapList(), 50)
    const config = await configOf(app.dht)
    expect([config.mode, config.bucketSize, config.concurrency, config.resiliency]).toEqual(["client", 15, 5, 2])
    await eventually(() => app.refreshStats.refreshes >= 2)
    expect(await app.dht.routingTable.size()).toBeGreaterThanOrEqual(1)
    expect((await app.dht.findPeer(serverId(1)))?.id.equals(serverId(1))).toBe(true)
    await app.shutdown()
    const after = app.refreshStats
    await sleep(250)
    expect(app.refreshStats).toEqual(after)
    expect(after.failures).toBe(0)
  })

  it("ServerNode: the shared servers serve the protocol and know each other", async () => {
    for (let i = 0; i < SERVERS; i++) {
      expect(await serverDht(i).mode()).toBe("server")
      expect(servers[i].host.getProtocols()).toContain("/ipfs/kad/1.0.0")
      expect(await serverDht(i).routingTable.size()).toBeGreaterThanOrEqual(SERVERS - 1)
    }
    const config = await configOf(serverDht(0))
    expect([config.bucketSize, config.concurrency, config.resiliency, config.lookupCheckConcurrency]).toEqual([
      30, 20, 8, 512
    ])
    const broken = join(workDir, "broken.json")
    await writeFile(broken, JSON.stringify({ peers: [] }))
    await expect(loadBootstrapPeers(broken)).rejects.toThrow(/JSON array of multiaddr strings/)
  })

  it("kadDHT service: libp2p.peerRouting and libp2p.contentRouting go through the DHT", async () => {
    const node = await createLibp2pWithDht(bootstrapList(), validator)
    teardown.push(() => node.stop())
    const cid = await cidForText("provided by a server")
    await serverDht(0).provide(cid, true)
    const result = await until(
      () => findThroughLibp2p(node, serverId(2), cid),
      (found) => found.providers.length > 0
    )
    expect(result.peerAddresses.length).toBeGreaterThan(0)
    expect(result.providers).toEqual([serverId(0).toString()])

    const own = await cidForText("provided through libp2p")
    await provideThroughLibp2p(node, own)
    const providers = await until(
      () => collect(serverDht(1).findProvidersAsync(own, 1)),
      (found) => found.length > 0
    )
    expect(providers.map((p) => p.id.toString())).toEqual([node.peerId.toString()])
  })
})

describe("Testing and Development", () => {
  it.scoped("unit testing without sockets: a client DHT on the in-memory network initializes", () =>
    Effect.gen(function* () {
      const state = yield* initializeClientNode
      expect(state).toEqual({ routingTableSize: 0, mode: "client", bucketSize: 20 })
    })
  )

  it.scoped("the in-memory network runs every operation with the real DHT code", () =>
    Effect.gen(function* () {
      const appValidatorOption = validatorOption(validator)
      const { hub, nodes } = yield* startInMemoryNetwork(6, [appValidatorOption])
      const client = yield* startInMemoryNode(hub, [
        mode(DHTMode.client),
        appValidatorOption,
        bootstrapPeers([{ id: nodes[0].id, multiaddrs: [nodes[0].address] }])
      ])
      yield* client.dht.bootstrap()
      const found = yield* client.dht.findPeer(nodes[5].id)
      expect(Option.map(found, (p) => p.id.toString())).toEqual(Option.some(nodes[5].id.toString()))

      yield* client.dht.putValue(utf8.encode("/notes/in-memory"), utf8.encode("no sockets"))
      const value = yield* nodes[3].dht.getValue(utf8.encode("/notes/in-memory"))
      expect(text(value)).toBe("no sockets")

      const cid = yield* Effect.promise(() => cidForText("in-memory content"))
      yield* client.dht.provide(cid)
      const providers = yield* Stream.runCollect(nodes[4].dht.findProviders(cid, { count: 1 }))
      expect([...providers].map((p) => p.id.toString())).toEqual([client.id.toString()])
      expect(hub.stats.requests).toBeGreaterThan(0)
      // a client is not served: nobody keeps it in their routing table
      for (const node of nodes) {
        const peers = yield* node.dht.routingTable.listPeers
        expect(peers.map((p) => p.id.toString())).not.toContain(client.id.toString())
      }
    })
  )

  it("integration test: two real nodes find each other", async () => {
    const result = await peerDiscoveryBetweenTwoNodes()
    expect(result.found).toBe(result.expected)
    expect(result.addresses.length).toBeGreaterThan(0)
  })
})

describe("Advanced Topics", () => {
  const key = utf8.encode("/myapp/settings")

  /**
   * A node whose `myapp` validator accepts anything. One attempt per
   * request and a 10 s request timeout: servers reset a refused PUT_VALUE
   * at once, and the test below tells that from waiting out the timeout.
   */
  const laxNode = async (): Promise<IpfsDHT> => {
    const lax = closing(
      await DHT.new_(await newHost(), undefined, [
        validatorOption(new NamespacedValidator({ myapp: { validate: () => undefined, select: () => 0 } })),
        bootstrapPeers(bootstrapList()),
        maxDhtMessageRetries(1),
        requestTimeout("10 seconds")
      ])
    )
    await lax.bootstrap()
    return lax
  }

  it("CustomValidator: signed, fresh /myapp/ records pass; the rest are refused with the guide's reasons", async () => {
    const now = Date.now()
    const checker = new MyAppValidator(publisher.publicKey, () => now)
    const reason = (value: Uint8Array, recordKey = key) =>
      Promise.resolve(checker.validate(recordKey, value)).then(
        () => "valid",
        (error: Error) => error.message
      )
    expect(await reason(await signMyAppRecord(publisher, key, "dark-mode", now - 1000))).toBe("valid")
    expect(await reason(await signMyAppRecord(stranger, key, "dark-mode", now))).toBe("Invalid signature")
    expect(await reason(await signMyAppRecord(publisher, "/myapp/other", "dark-mode", now))).toBe("Invalid signature")
    expect(await reason(await signMyAppRecord(publisher, key, "x", now - 24 * 3_600_000 - 1))).toBe("Record too old")
    expect(await reason(await signMyAppRecord(publisher, key, "x", now + 3_600_000))).toBe("Record from the future")
    expect(await reason(utf8.encode(JSON.stringify({ data: "x", timestamp: now })))).toBe("Invalid record format")
    expect(await reason(utf8.encode("{timestamp:"))).toBe("Invalid record format")
    const genuine = parseMyAppRecord(await signMyAppRecord(publisher, key, "dark-mode", now))
    const edited = utf8.encode(JSON.stringify({ ...genuine, data: "light-mode" }))
    expect(await reason(edited)).toBe("Invalid signature")

    const [older, newer] = await Promise.all([
      signMyAppRecord(publisher, key, "old", now - 2000),
      signMyAppRecord(publisher, key, "new", now - 1000)
    ])
    expect(checker.select(key, [older, utf8.encode("junk"), newer])).toBe(2)
    expect(checker.select(key, [newer, older])).toBe(0)
  })

  it("CustomValidator over the network: the newest signed record wins, forged ones go nowhere", async () => {
    const writerHost = await newHost()
    const writer = closing(
      // the guide's registration: a NamespacedValidator with `myapp` added
      createDhtWithCustomValidator(writerHost, new MemoryProviderStore(), myAppValidator(publisher.publicKey), {
        bootstrapPeers: bootstrapList()
      })
    )
    await writer.start()
    await writer.bootstrap()
    const { dht: reader } = await joinClient()
    await writer.putValue(key, await signMyAppRecord(publisher, key, "dark-mode", Date.now() - 1000))
    expect(parseMyAppRecord((await reader.getValue(key))!)?.data).toBe("dark-mode")
    await reader.putValue(key, await signMyAppRecord(publisher, key, "light-mode"))
    expect(parseMyAppRecord((await writer.getValue(key))!)?.data).toBe("light-mode")

    // locally refused
    const forged = await signMyAppRecord(stranger, key, "evil", Date.now() + 30_000)
    await expect(writer.putValue(key, forged)).rejects.toMatchObject({ _tag: "InvalidRecordError" })
    // a node with a lax validator stores it locally, but every server refuses it
    const lax = await laxNode()
    await expect(lax.putValue(key, forged)).rejects.toMatchObject({ _tag: "ReplicationError", accepted: 0 })
    expect(parseMyAppRecord((await reader.getValue(key))!)?.data).toBe("light-mode")
  })

  // a server that refuses a PUT_VALUE resets the stream at once, as go-libp2p-kad-dht does, so the
  // sender does not wait out its request timeout
  it("a PUT_VALUE the servers refuse fails without waiting for the request timeout", async () => {
    const lax = await laxNode()
    const forged = await signMyAppRecord(stranger, key, "evil", Date.now())
    const started = Date.now()
    await expect(lax.putValue(key, forged)).rejects.toMatchObject({ _tag: "ReplicationError", accepted: 0 })
    // half the lax node's 10 s request timeout: room for a loaded machine, and still no waiting it out
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it("NetworkMonitor: no estimate before enough lookups, then an estimate and table statistics", async () => {
    const host = await newHost()
    // k = 3 so that lookups in this small network return a full k peers, which the estimator needs
    const dht = closing(
      await DHT.new_(host, undefined, [bucketSize(3), disableAutoRefresh(), bootstrapPeers(bootstrapList())])
    )
    await dht.bootstrap({ quickConnectOnly: true })
    const monitor = new NetworkMonitor(dht)
    const before = await monitor.getNetworkStats()
    expect(before.estimatedNetworkSize).toBeNull()
    expect(before.routingTableSize).toBeGreaterThanOrEqual(3)
    expect(before.connectedPeers).toBe(before.routingTableSize)

    await monitor.sampleNetwork(6)
    const after = await monitor.getNetworkStats()
    expect(after.estimatedNetworkSize).not.toBeNull()
    expect(Number.isFinite(after.estimatedNetworkSize)).toBe(true)
    expect(after.estimatedNetworkSize).toBeGreaterThan(0)
    expect(after.averageLatencyMillis).not.toBeNull()
    expect(after.averageLatencyMillis).toBeGreaterThanOrEqual(0)
    expect(averageLatency([10, undefined, 20])).toBe(15)
    expect(averageLatency([undefined])).toBeNull()
  })

  it("RobustDHTClient: retries with backoff, passes MaxRetriesExceededException on at once", async () => {
    const { dht } = await joinClient()
    // on a busy machine the bootstrap dial can lose its first race; the put below needs a peer to store on
    await eventually(async () => (await dht.routingTable.size()) > 0)
    const client = new RobustDHTClient(dht, { baseDelay: 20, backoffFactor: 2 })

    let calls = 0
    const flaky = await client.withRetry(async () => {
      calls++
      if (calls < 3) throw new Error(`transient ${calls}`)
      return "ok"
    })
    expect([flaky, calls]).toEqual(["ok", 3])

    calls = 0
    const exhausted = new MaxRetriesExceededException({ attempts: 3, lastCause: "timeout" })
    await expect(
      client.withRetry(async () => {
        calls++
        throw exhausted
      })
    ).rejects.toBe(exhausted)
    expect(calls).toBe(1)

    calls = 0
    const started = Date.now()
    await expect(
      client.withRetry(async () => {
        calls++
        throw new Error(`failure ${calls}`)
      })
    ).rejects.toThrow("failure 3")
    expect(calls).toBe(3)
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 - 5)

    expect((await client.findPeerRobust(serverId(0)))?.id.equals(serverId(0))).toBe(true)
    await client.putValueRobust("/notes/robust", utf8.encode("sturdy"))
    expect(text(await new RobustDHTClient(serverDht(2)).getValueRobust("/notes/robust"))).toBe("sturdy")
  })
})

describe("Troubleshooting", () => {
  it("bootstrap connectivity check: reports which bootstrap peers answer", async () => {
    const host = await newHost()
    const dead = await absentPeer()
    const results = await checkBootstrapConnectivity(
      host,
      [bootstrapList()[0], dead.address, "/ip4/127.0.0.1/tcp/1"],
      5_000
    )
    expect(results.map((r) => r.connected)).toEqual([true, false, false])
    expect(results[0].peerId).toBe(serverId(0).toString())
    expect(host.getConnections(serverId(0)).length).toBeGreaterThan(0)
    expect(results[1].peerId).toBe(dead.id.toString())
    expect(results[1].error).toBeTruthy()
    expect(results[2].error).toMatch(/no \/p2p\//)
  })

  it("a small routing table is fixed by bootstrapping; findPeerMultiMethod tries every way", async () => {
    const host = await newHost()
    const dht = closing(await DHT.new_(host, undefined, [disableAutoRefresh(), bootstrapPeers(bootstrapList())]))
    const first = await ensureRoutingTable(dht, 5)
    expect(first.before).toBe(0)
    expect(first.bootstrapped).toBe(true)
    expect(first.after).toBeGreaterThanOrEqual(SERVERS)
    const second = await ensureRoutingTable(dht, 1)
    expect(second).toEqual({ before: first.after, after: first.after, bootstrapped: false })

    const known = await findPeerMultiMethod(dht, host, serverId(2))
    expect(known.method).toBe("dht")
    expect(known.peer?.id.equals(serverId(2))).toBe(true)
    const unknown = await findPeerMultiMethod(dht, host, (await absentPeer()).id)
    expect(unknown).toEqual({ peer: null, method: null })
  })

  it("memory-constrained node: small options, periodic cleanup of expired provider records, restart on demand", async () => {
    const host = await newHost()
    let clock = Date.now()
    const store = new MemoryProviderStore({ now: () => clock, provideValidity: 60_000 })
    teardown.push(() => store.close())
    const cid = await cidForText("soon expired")
    await store.addProvider(cid.multihash.bytes, { id: serverId(0), multiaddrs: [] })
    let restartRequested = false
    const node = await MemoryConstrainedNode.start(host, store, {
      bootstrap: bootstrapList(),
      appOptions: [validatorOption(validator)],
      cleanupIntervalMillis: 50,
      shouldRestart: () => {
        const restart = restartRequested
        restartRequested = false
        return restart
      }
    })
    teardown.push(() => node.stop())
    const config = await configOf(node.dht)
    expect(config.mode).toBe("client")
    expect(config.bucketSize).toBe(10)
    expect(Option.getOrNull(config.maxRoutingTableSize)).toBe(200)
    expect(config.autoRefresh).toBe(false)
    expect(await node.dht.routingTable.size()).toBeGreaterThanOrEqual(1)

    clock += 120_000
    await eventually(() => node.stats.removedRecords >= 1)
    expect(store.stats().providers).toBe(0)

    const before = node.dht
    restartRequested = true
    await eventually(() => node.stats.restarts === 1)
    expect(node.dht).not.toBe(before)
    await expect(before.findPeer(serverId(0))).rejects.toMatchObject({ _tag: "DHTClosedError" })
    expect((await node.dht.findPeer(serverId(1)))?.id.equals(serverId(1))).toBe(true)
    expect(node.stats.failures).toBe(0)
    await node.stop()
    const stopped = node.stats
    await sleep(200)
    expect(node.stats).toEqual(stopped)
  })

  it.effect("logging, Effect users: Logger.minimumLogLevel decides whether the DHT's debug lines show", () =>
    Effect.gen(function* () {
      const debugLines: Array<string> = []
      yield* Effect.scoped(startInMemoryNode(new MemoryNetworkHub(), [mode(DHTMode.server)])).pipe(
        withLogging(setupDHTLogging((line) => debugLines.push(line)))
      )
      expect(debugLines.some((line) => /^DEBUG: \S+: DHT switched to server mode$/.test(line))).toBe(true)

      const infoLines: Array<string> = []
      yield* Effect.scoped(startInMemoryNode(new MemoryNetworkHub(), [mode(DHTMode.server)])).pipe(
        withLogging(
          dhtLogging(
            LogLevel.Info,
            guideFormatLogger((line) => infoLines.push(line))
          )
        )
      )
      expect(infoLines.filter((line) => line.startsWith("DEBUG"))).toEqual([])
    })
  )

  it("logging, Promise users: an IpfsDHT built with the logging layer writes its debug lines", async () => {
    const host = await newHost()
    const lines: Array<string> = []
    const dht = closing(
      createIpfsDHTWithLogging(
        host,
        { mode: DHTMode.server },
        setupDHTLogging((l) => lines.push(l))
      )
    )
    await dht.start()
    await eventually(() => lines.some((line) => line.includes("DHT switched to server mode")))
    expect(lines.every((line) => /^(DEBUG|INFO|WARN|ERROR|TRACE|FATAL): /.test(line))).toBe(true)
  })

  it("DHTHealthChecker: healthy on the network, unhealthy (with the reason) alone", async () => {
    const { dht } = await joinClient()
    const checker = new DHTHealthChecker(dht)
    const report = await checker.checkHealth()
    expect(report).toMatchObject({ isHealthy: true, canFindSelf: true, canStoreValues: true, errors: [] })
    expect(report.routingTableSize).toBeGreaterThanOrEqual(SERVERS)
    expect(await checker.report()).toContain("- Overall Health: HEALTHY")

    const loneHost = await newHost()
    const lone = closing(await DHT.new_(loneHost, undefined, [validatorOption(validator)]))
    const loneReport = await new DHTHealthChecker(lone, 5_000).checkHealth()
    expect(loneReport).toMatchObject({
      routingTableSize: 0,
      isHealthy: false,
      canFindSelf: true,
      canStoreValues: false
    })
    expect(loneReport.errors).toEqual([expect.stringMatching(/^Value storage test failed: /)])
  })
})

describe("Performance and Optimization", () => {
  it("MobileOptimizedDHT: the mobile config, a refresh timer that respects shouldRefresh and stops", async () => {
    const host = await newHost()
    let allowed = true
    const handle = await MobileOptimizedDHT.create(host, new MemoryProviderStore(), {
      bootstrap: bootstrapList(),
      refreshIntervalMillis: 50,
      shouldRefresh: async () => allowed
    })
    teardown.push(() => handle.stop())
    const config = await configOf(handle.dht)
    expect([config.mode, config.bucketSize, config.concurrency, config.resiliency]).toEqual(["client", 10, 3, 2])
    expect([config.maxRetryAttempts, config.autoRefresh]).toEqual([2, false])
    expect(await handle.dht.routingTable.size()).toBeGreaterThanOrEqual(1)
    await eventually(() => handle.refreshes() >= 2)
    allowed = false
    await sleep(100) // let a refresh already past its check finish
    const paused = handle.refreshes()
    await sleep(200)
    expect(handle.refreshes()).toBe(paused)
    allowed = true
    await eventually(() => handle.refreshes() > paused)
    await handle.stop()
    const stopped = handle.refreshes()
    await sleep(200)
    expect(handle.refreshes()).toBe(stopped)
  })

  it("HighPerformanceDHT: the server config, bootstrapped with a periodic refresh", async () => {
    const host = await newHost()
    const dht = closing(
      await HighPerformanceDHT.create(host, new MemoryProviderStore(), bootstrapList(), [validatorOption(validator)])
    )
    expect(await dht.mode()).toBe("server")
    expect(host.getProtocols()).toContain("/ipfs/kad/1.0.0")
    const config = await configOf(dht)
    expect([config.bucketSize, config.concurrency, config.resiliency, config.lookupCheckConcurrency]).toEqual([
      50, 25, 10, 1024
    ])
    expect([config.maxRetryAttempts, config.retryBackoffFactor, config.optimisticProvideJobsPoolSize]).toEqual([
      7, 1.5, 500
    ])
    expect(Duration.toMillis(config.retryInitialBackoff)).toBe(50)
    expect((await dht.findPeer(serverId(1)))?.id.equals(serverId(1))).toBe(true)
    const cid = await cidForText("high performance content")
    await dht.provide(cid, true)
    const providers = await until(
      () => collect(serverDht(3).findProvidersAsync(cid, 1)),
      (found) => found.length > 0
    )
    expect(providers.map((p) => p.id.toString())).toEqual([host.peerId.toString()])
  })

  it("DHTMemoryManager: periodic cleanup of expired records and an oversized-table report", async () => {
    const host = await newHost()
    let clock = Date.now()
    const store = new MemoryProviderStore({ now: () => clock, provideValidity: 60_000 })
    teardown.push(() => store.close())
    const dht = closing(
      await joinViaCombinators(
        host,
        servers.map((s) => addrInfoOf(s.host)),
        validator
      )
    )
    const cid = await cidForText("managed")
    await store.addProvider(cid.multihash.bytes, { id: serverId(0), multiaddrs: [] })
    await store.addProvider((await cidForText("managed 2")).multihash.bytes, { id: serverId(1), multiaddrs: [] })
    const oversized: Array<number> = []
    const manager = new DHTMemoryManager(dht, store, {
      intervalMillis: 50,
      routingTableThreshold: 1,
      onOversized: (size) => oversized.push(size)
    })
    teardown.push(() => manager.stop())
    clock += 120_000
    manager.startMemoryManagement()
    await eventually(() => manager.history().length >= 2)
    const [first, second] = manager.history()
    expect(first.removedProviderRecords).toBe(2)
    expect(second.removedProviderRecords).toBe(0)
    expect(first.overThreshold).toBe(true)
    expect(oversized[0]).toBe(first.routingTableSize)
    expect(first.routingTableSize).toBeGreaterThanOrEqual(SERVERS)
    await manager.stop()
    const runs = manager.history().length
    await sleep(200)
    expect(manager.history().length).toBe(runs)
  })

  it("DHTPerformanceMonitor: latency statistics per operation, failures under _error", async () => {
    const { dht } = await joinClient()
    const monitor = new DHTPerformanceMonitor(dht)
    for (let i = 0; i < 3; i++) {
      const peer = await monitor.measureOperation("findPeer", (d) => d.findPeer(serverId(i)))
      expect(peer?.id.equals(serverId(i))).toBe(true)
    }
    await expect(
      monitor.measureOperation("putValue", (d) => d.putValue("/unregistered/key", utf8.encode("x")))
    ).rejects.toMatchObject({ _tag: "InvalidRecordError" })
    const stats = monitor.getPerformanceStats()
    expect(Object.keys(stats).sort()).toEqual(["findPeer", "putValue_error"])
    const findPeer = stats.findPeer
    expect(findPeer.count).toBe(3)
    expect(findPeer.min).toBeLessThanOrEqual(findPeer.median)
    expect(findPeer.median).toBeLessThanOrEqual(findPeer.p95)
    expect(findPeer.p95).toBeLessThanOrEqual(findPeer.max)
    expect(stats.putValue_error.count).toBe(1)
    expect(formatPerformanceStats(findPeer)).toMatch(/^findPeer:\n {2}Count: 3\n {2}Average: \d+ms/)
  })
})
