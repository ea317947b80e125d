/**
 * The configurations of the developer guide, written in TypeScript the way
 * the guide writes them in Dart, resolve to what they say.
 */

import { describe, expect, it } from "@effect/vitest"
import { NamespacedValidator } from "@effect-kad/core"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Duration, Either, Option } from "effect"
import {
  bootstrapPeers,
  bucketSize,
  concurrency,
  type DHTConfig,
  DHTMode,
  type DHTOption,
  type DHTOptions,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  disableAutoRefresh,
  enableOptimisticProvide,
  lookupCheckConcurrency,
  maxDhtMessageRetries,
  maxRoutingTableSize,
  mode,
  optimisticProvideJobsPoolSize,
  resiliency,
  resolveOptions
} from "../src/index.js"
import { longestWins, PEER_IDS } from "./fixtures.js"

const resolve = (options: ReadonlyArray<DHTOption> | DHTOptions): DHTConfig => {
  const result = resolveOptions(options)
  if (Either.isLeft(result)) throw new Error(`expected success, got ${result.left.message}`)
  return result.right
}

const ms = Duration.toMillis

describe("Configuration Guide", () => {
  it("client node (mobile/resource-constrained)", () => {
    const options: DHTOptions = {
      mode: DHTMode.client,
      bucketSize: 15,
      concurrency: 5,
      resiliency: 2,
      maxRetryAttempts: 2
    }
    const config = resolve(options)
    expect(config).toMatchObject({ mode: "client", bucketSize: 15, concurrency: 5, resiliency: 2, maxRetryAttempts: 2 })
    expect(config.autoRefresh).toBe(true)
  })

  it("server node (bootstrap/infrastructure)", () => {
    const config = resolve({
      mode: DHTMode.server,
      bucketSize: 30,
      concurrency: 15,
      resiliency: 5,
      autoRefresh: true
    })
    expect(config).toMatchObject({ mode: "server", bucketSize: 30, concurrency: 15, resiliency: 5, autoRefresh: true })
  })

  it("functional configuration pattern", () => {
    const peerId1 = peerIdFromString(PEER_IDS[0])
    const peerId2 = peerIdFromString(PEER_IDS[1])
    const dhtOptions: Array<DHTOption> = [
      mode(DHTMode.auto),
      bucketSize(25),
      concurrency(12),
      resiliency(4),

      // Bootstrap configuration
      bootstrapPeers([
        { id: peerId1, multiaddrs: [multiaddr("/ip4/1.2.3.4/tcp/4001")] },
        { id: peerId2, multiaddrs: [multiaddr("/ip4/5.6.7.8/tcp/4001")] }
      ]),

      // Performance tuning
      maxDhtMessageRetries(5),
      dhtMessageRetryInitialBackoff(Duration.millis(250)),
      dhtMessageRetryMaxBackoff(Duration.seconds(15)),

      // Advanced features
      enableOptimisticProvide(),
      optimisticProvideJobsPoolSize(100)
    ]
    const config = resolve(dhtOptions)
    expect(config).toMatchObject({
      mode: "auto",
      bucketSize: 25,
      concurrency: 12,
      resiliency: 4,
      maxRetryAttempts: 5,
      enableOptimisticProvide: true,
      optimisticProvideJobsPoolSize: 100
    })
    expect(ms(config.retryInitialBackoff)).toBe(250)
    expect(ms(config.retryMaxBackoff)).toBe(15_000)
    expect(config.bootstrapPeers.map((p) => [p.id.toString(), p.multiaddrs.map(String)])).toEqual([
      [PEER_IDS[0], ["/ip4/1.2.3.4/tcp/4001"]],
      [PEER_IDS[1], ["/ip4/5.6.7.8/tcp/4001"]]
    ])
  })

  it("bootstrap configuration, method 1: multiaddrs in DHTOptions", () => {
    const config = resolve({
      bootstrapPeers: [
        multiaddr("/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"),
        "/ip4/104.236.179.241/tcp/4001/p2p/QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM"
      ]
    })
    expect(config.bootstrapPeers.map((p) => [p.id.toString(), p.multiaddrs.map(String)])).toEqual([
      ["QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ", ["/ip4/104.131.131.82/tcp/4001"]],
      ["QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM", ["/ip4/104.236.179.241/tcp/4001"]]
    ])
  })

  it("bootstrap configuration, method 2: functional options with AddrInfo", () => {
    const config = resolve([
      bootstrapPeers([
        {
          id: peerIdFromString("QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"),
          multiaddrs: [multiaddr("/ip4/104.131.131.82/tcp/4001")]
        }
      ])
    ])
    expect(config.bootstrapPeers).toHaveLength(1)
    expect(config.bootstrapPeers[0].id.toString()).toBe("QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ")
  })

  it("custom record validators: a NamespacedValidator passed as the validator", () => {
    const namespaced = new NamespacedValidator()
    namespaced.addValidator("myapp", longestWins)
    const config = resolve({ validator: namespaced })
    expect(Option.getOrThrow(config.validator)).toBe(namespaced)
  })
})

describe("Integration Examples", () => {
  it("basic P2P application", () => {
    const config = resolve({ mode: DHTMode.auto, bucketSize: 20, concurrency: 10 })
    expect(config).toMatchObject({ mode: "auto", bucketSize: 20, concurrency: 10 })
  })

  it("mobile-optimized P2P app", () => {
    const dhtOptions: Array<DHTOption> = [
      mode(DHTMode.client), // Client-only for battery life
      bucketSize(15), // Smaller routing table
      concurrency(5), // Lower network usage
      resiliency(2), // Fewer required responses
      maxDhtMessageRetries(2), // Fewer retries
      dhtMessageRetryMaxBackoff(Duration.seconds(10)),

      // Conservative bootstrap
      bootstrapPeers([{ id: peerIdFromString(PEER_IDS[2]), multiaddrs: [multiaddr("/ip4/1.2.3.4/tcp/4001")] }])
    ]
    const config = resolve(dhtOptions)
    expect(config).toMatchObject({ mode: "client", bucketSize: 15, concurrency: 5, resiliency: 2, maxRetryAttempts: 2 })
    expect(ms(config.retryMaxBackoff)).toBe(10_000)
    expect(config.bootstrapPeers.map((p) => p.id.toString())).toEqual([PEER_IDS[2]])
  })

  it("high-performance server node", () => {
    const loadBootstrapPeers = () =>
      PEER_IDS.slice(0, 5).map((id, i) => ({
        id: peerIdFromString(id),
        multiaddrs: [multiaddr(`/ip4/10.0.0.${i + 1}/tcp/4001`)]
      }))
    const dhtOptions: Array<DHTOption> = [
      mode(DHTMode.server),
      bucketSize(30), // Large routing table
      concurrency(20), // High concurrency
      resiliency(8), // More thorough queries
      lookupCheckConcurrency(512), // High lookup concurrency

      // Optimistic provide for better performance
      enableOptimisticProvide(),
      optimisticProvideJobsPoolSize(200),

      // Aggressive retry strategy
      maxDhtMessageRetries(5),
      dhtMessageRetryInitialBackoff(Duration.millis(100)),
      dhtMessageRetryMaxBackoff(Duration.seconds(30)),

      // Large bootstrap peer list
      bootstrapPeers(loadBootstrapPeers())
    ]
    const config = resolve(dhtOptions)
    expect(config).toMatchObject({
      mode: "server",
      bucketSize: 30,
      concurrency: 20,
      resiliency: 8,
      lookupCheckConcurrency: 512,
      enableOptimisticProvide: true,
      optimisticProvideJobsPoolSize: 200,
      maxRetryAttempts: 5
    })
    expect(ms(config.retryInitialBackoff)).toBe(100)
    expect(ms(config.retryMaxBackoff)).toBe(30_000)
    expect(config.bootstrapPeers).toHaveLength(5)
  })
})

describe("Troubleshooting and Performance sections", () => {
  it("high memory usage: mobileOptions", () => {
    const mobileOptions: Array<DHTOption> = [
      mode(DHTMode.client),
      bucketSize(10),
      maxRoutingTableSize(200),
      concurrency(3),
      resiliency(2),
      disableAutoRefresh()
    ]
    const config = resolve(mobileOptions)
    expect(config).toMatchObject({ mode: "client", bucketSize: 10, concurrency: 3, resiliency: 2, autoRefresh: false })
    expect(config.maxRoutingTableSize).toEqual(Option.some(200))
  })

  it("mobile optimization: mobileConfig", () => {
    const mobileConfig: ReadonlyArray<DHTOption> = [
      mode(DHTMode.client),
      bucketSize(10),
      concurrency(3),
      resiliency(2),
      maxDhtMessageRetries(2),
      dhtMessageRetryMaxBackoff(Duration.seconds(10)),
      disableAutoRefresh()
    ]
    const config = resolve(mobileConfig)
    expect(config).toMatchObject({ mode: "client", bucketSize: 10, concurrency: 3, resiliency: 2, maxRetryAttempts: 2 })
    expect(config.autoRefresh).toBe(false)
  })

  it("server optimization: serverConfig", () => {
    const serverConfig: ReadonlyArray<DHTOption> = [
      mode(DHTMode.server),
      bucketSize(50),
      concurrency(25),
      resiliency(10),
      lookupCheckConcurrency(1024),
      enableOptimisticProvide(),
      optimisticProvideJobsPoolSize(500),
      maxDhtMessageRetries(7),
      dhtMessageRetryInitialBackoff(Duration.millis(50)),
      dhtMessageRetryMaxBackoff(Duration.seconds(60)),
      dhtMessageRetryBackoffFactor(1.5)
    ]
    const config = resolve(serverConfig)
    expect(config).toMatchObject({
      mode: "server",
      bucketSize: 50,
      concurrency: 25,
      resiliency: 10,
      lookupCheckConcurrency: 1024,
      enableOptimisticProvide: true,
      optimisticProvideJobsPoolSize: 500,
      maxRetryAttempts: 7,
      retryBackoffFactor: 1.5
    })
    expect(ms(config.retryInitialBackoff)).toBe(50)
    expect(ms(config.retryMaxBackoff)).toBe(60_000)
  })
})
