import { describe, expect, it } from "@effect/vitest"
import { NamespacedValidator } from "@effect-kad/core"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Duration, Either, Option } from "effect"
import {
  autoRefresh,
  bootstrapPeers,
  bucketSize,
  concurrency,
  type DHTConfig,
  DHTConfig as DHTConfigCompanion,
  DHTMode,
  type DHTOption,
  datastore,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  disableAutoRefresh,
  enableOptimisticProvide,
  filterLocalhostInResponses,
  ipDiversityFilter,
  isDHTOption,
  lookupCheckConcurrency,
  maxDhtMessageRetries,
  maxRecordAge,
  maxRoutingTableSize,
  mode,
  optimisticProvideJobsPoolSize,
  type PeerFilter,
  peerFilter,
  protocolPrefix,
  providerAddrTTL,
  providerStore,
  provideValidity,
  refreshInterval,
  reprovideInterval,
  reprovideStrategy,
  requestTimeout,
  resiliency,
  resolveOptions,
  validator,
  withOptions
} from "../src/index.js"
import { longestWins, MapDatastore, MapProviderStore, PEER_IDS } from "./fixtures.js"

const resolve = (options: ReadonlyArray<DHTOption>): DHTConfig => {
  const result = resolveOptions(options)
  if (Either.isLeft(result)) throw new Error(`expected success, got ${result.left.message}`)
  return result.right
}

const store = new MapProviderStore()
const ds = new MapDatastore()
const filter: PeerFilter = (peer) => peer.multiaddrs.length > 0
const ms = Duration.toMillis

// [name, option, the field it sets, how to read that field from a config, the expected reading]
const cases: ReadonlyArray<readonly [string, DHTOption, keyof DHTConfig, (c: DHTConfig) => unknown, unknown]> = [
  ["mode", mode(DHTMode.client), "mode", (c) => c.mode, "client"],
  ["bucketSize", bucketSize(15), "bucketSize", (c) => c.bucketSize, 15],
  ["concurrency", concurrency(5), "concurrency", (c) => c.concurrency, 5],
  ["resiliency", resiliency(2), "resiliency", (c) => c.resiliency, 2],
  [
    "bootstrapPeers",
    bootstrapPeers([`/ip4/1.2.3.4/tcp/4001/p2p/${PEER_IDS[0]}`]),
    "bootstrapPeers",
    (c) => c.bootstrapPeers.map((p) => [p.id.toString(), p.multiaddrs.map(String)]),
    [[PEER_IDS[0], ["/ip4/1.2.3.4/tcp/4001"]]]
  ],
  ["maxDhtMessageRetries", maxDhtMessageRetries(5), "maxRetryAttempts", (c) => c.maxRetryAttempts, 5],
  [
    "dhtMessageRetryInitialBackoff",
    dhtMessageRetryInitialBackoff(Duration.millis(250)),
    "retryInitialBackoff",
    (c) => ms(c.retryInitialBackoff),
    250
  ],
  [
    "dhtMessageRetryMaxBackoff",
    dhtMessageRetryMaxBackoff(Duration.seconds(15)),
    "retryMaxBackoff",
    (c) => ms(c.retryMaxBackoff),
    15_000
  ],
  [
    "dhtMessageRetryBackoffFactor",
    dhtMessageRetryBackoffFactor(1.5),
    "retryBackoffFactor",
    (c) => c.retryBackoffFactor,
    1.5
  ],
  ["ipDiversityFilter", ipDiversityFilter(), "ipDiversityFilter", (c) => c.ipDiversityFilter, true],
  [
    "enableOptimisticProvide",
    enableOptimisticProvide(),
    "enableOptimisticProvide",
    (c) => c.enableOptimisticProvide,
    true
  ],
  [
    "optimisticProvideJobsPoolSize",
    optimisticProvideJobsPoolSize(100),
    "optimisticProvideJobsPoolSize",
    (c) => c.optimisticProvideJobsPoolSize,
    100
  ],
  [
    "lookupCheckConcurrency",
    lookupCheckConcurrency(512),
    "lookupCheckConcurrency",
    (c) => c.lookupCheckConcurrency,
    512
  ],
  [
    "maxRoutingTableSize",
    maxRoutingTableSize(200),
    "maxRoutingTableSize",
    (c) => c.maxRoutingTableSize,
    Option.some(200)
  ],
  ["disableAutoRefresh", disableAutoRefresh(), "autoRefresh", (c) => c.autoRefresh, false],
  ["autoRefresh(false)", autoRefresh(false), "autoRefresh", (c) => c.autoRefresh, false],
  ["refreshInterval", refreshInterval("5 minutes"), "refreshInterval", (c) => ms(c.refreshInterval), 300_000],
  ["providerStore", providerStore(store), "providerStore", (c) => c.providerStore, Option.some(store)],
  ["datastore", datastore(ds), "datastore", (c) => c.datastore, Option.some(ds)],
  ["validator", validator(longestWins), "validator", (c) => c.validator, Option.some(longestWins)],
  ["protocolPrefix", protocolPrefix("/myapp"), "protocolPrefix", (c) => c.protocolPrefix, "/myapp"],
  ["provideValidity", provideValidity("72 hours"), "provideValidity", (c) => ms(c.provideValidity), 72 * 3_600_000],
  ["providerAddrTTL", providerAddrTTL(3_600_000), "providerAddrTTL", (c) => ms(c.providerAddrTTL), 3_600_000],
  ["maxRecordAge", maxRecordAge(Duration.hours(12)), "maxRecordAge", (c) => ms(c.maxRecordAge), 12 * 3_600_000],
  [
    "filterLocalhostInResponses",
    filterLocalhostInResponses(false),
    "filterLocalhostInResponses",
    (c) => c.filterLocalhostInResponses,
    false
  ],
  ["peerFilter", peerFilter(filter), "peerFilter", (c) => c.peerFilter, Option.some(filter)],
  ["requestTimeout", requestTimeout("30 seconds"), "requestTimeout", (c) => ms(c.requestTimeout), 30_000],
  [
    "reprovideInterval",
    reprovideInterval("12 hours"),
    "reprovideInterval",
    (c) => ms(c.reprovideInterval),
    12 * 3_600_000
  ],
  ["reprovideStrategy", reprovideStrategy("classic"), "reprovideStrategy", (c) => c.reprovideStrategy, "classic"]
]

describe("every combinator sets its field", () => {
  it.each(cases)("%s", (_name, option, field, read, expected) => {
    expect(isDHTOption(option)).toBe(true)
    const config = resolve([option])
    expect(read(config)).toEqual(expected)
    // and nothing else
    expect(read(DHTConfigCompanion.defaults)).not.toEqual(expected)
    const others = Object.keys(DHTConfigCompanion.defaults).filter((key) => key !== field) as Array<keyof DHTConfig>
    for (const key of others) expect(config[key], key).toEqual(DHTConfigCompanion.defaults[key])
  })

  it("autoRefresh() turns refresh back on after disableAutoRefresh()", () => {
    expect(resolve([disableAutoRefresh(), autoRefresh()]).autoRefresh).toBe(true)
  })

  it("enableOptimisticProvide(false) turns it back off", () => {
    expect(resolve([enableOptimisticProvide(), enableOptimisticProvide(false)]).enableOptimisticProvide).toBe(false)
  })

  it("a record of namespace validators becomes a NamespacedValidator", () => {
    const config = resolve([validator({ myapp: longestWins })])
    const resolved = Option.getOrThrow(config.validator)
    expect(resolved).toBeInstanceOf(NamespacedValidator)
    expect((resolved as NamespacedValidator).getValidator("myapp")).toBe(longestWins)
    expect((resolved as NamespacedValidator).namespaces()).toEqual(["myapp"])
  })

  it("a NamespacedValidator is kept as it is", () => {
    const namespaced = new NamespacedValidator().addValidator("myapp", longestWins)
    expect(Option.getOrThrow(resolve([validator(namespaced)]).validator)).toBe(namespaced)
  })

  it("withOptions mixes a DHTOptions object into a list", () => {
    const config = resolve([withOptions({ mode: DHTMode.server, bucketSize: 30 }), concurrency(15)])
    expect([config.mode, config.bucketSize, config.concurrency]).toEqual(["server", 30, 15])
  })
})

describe("composition", () => {
  it("a later option overrides an earlier one", () => {
    expect(resolve([bucketSize(15), bucketSize(25)]).bucketSize).toBe(25)
    expect(resolve([mode(DHTMode.server), mode(DHTMode.client)]).mode).toBe("client")
    const peers = resolve([
      bootstrapPeers([`/p2p/${PEER_IDS[0]}`]),
      bootstrapPeers([`/p2p/${PEER_IDS[1]}`])
    ]).bootstrapPeers
    expect(peers.map((p) => p.id.toString())).toEqual([PEER_IDS[1]])
  })

  it("an override only touches its own field", () => {
    const config = resolve([mode(DHTMode.client), bucketSize(15), concurrency(5), bucketSize(12)])
    expect([config.mode, config.bucketSize, config.concurrency]).toEqual(["client", 12, 5])
  })

  it("lists are plain arrays that can be spread and reused without being changed", () => {
    const base = [mode(DHTMode.client), bucketSize(15)]
    const snapshot = JSON.stringify(base)
    const a = [...base, concurrency(5)]
    const b = [...base, concurrency(8), bucketSize(20)]
    const configA = resolve(a)
    const configB = resolve(b)
    const configBase = resolve(base)
    expect([configA.bucketSize, configA.concurrency, configA.mode]).toEqual([15, 5, "client"])
    expect([configB.bucketSize, configB.concurrency, configB.mode]).toEqual([20, 8, "client"])
    expect([configBase.bucketSize, configBase.concurrency]).toEqual([15, 10])
    expect(JSON.stringify(base)).toBe(snapshot)
    expect(base).toHaveLength(2)
    // resolving the same list again gives the same answer
    expect(resolve(a)).toEqual(configA)
  })

  it("options are frozen data", () => {
    const option = bucketSize(15)
    expect(option).toEqual({ _tag: "DHTOption", patch: { bucketSize: 15 } })
    expect(Object.isFrozen(option)).toBe(true)
    expect(Object.isFrozen(option.patch)).toBe(true)
  })

  it("bootstrapPeers copies its list, so changing the caller's array later has no effect", () => {
    const peers = [`/p2p/${PEER_IDS[0]}`]
    const option = bootstrapPeers(peers)
    peers.push(`/p2p/${PEER_IDS[1]}`)
    expect(resolve([option]).bootstrapPeers.map((p) => p.id.toString())).toEqual([PEER_IDS[0]])
  })

  it("accepts PeerInfo objects with PeerId and Multiaddr values, as the guide's AddrInfo", () => {
    const id = peerIdFromString(PEER_IDS[0])
    const config = resolve([bootstrapPeers([{ id, multiaddrs: [multiaddr("/ip4/104.131.131.82/tcp/4001")] }])])
    expect(config.bootstrapPeers[0].id.equals(id)).toBe(true)
    expect(config.bootstrapPeers[0].multiaddrs.map(String)).toEqual(["/ip4/104.131.131.82/tcp/4001"])
  })
})
