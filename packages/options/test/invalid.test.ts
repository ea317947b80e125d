import { describe, expect, it } from "@effect/vitest"
import { InvalidOptionError } from "@effect-kad/core"
import { peerIdFromString } from "@libp2p/peer-id"
import { Duration, Either, Option } from "effect"
import {
  bootstrapPeers,
  bucketSize,
  concurrency,
  DHTConfig,
  type DHTOptions,
  dhtMessageRetryBackoffFactor,
  dhtMessageRetryInitialBackoff,
  dhtMessageRetryMaxBackoff,
  lookupCheckConcurrency,
  maxDhtMessageRetries,
  maxRoutingTableSize,
  mode,
  optimisticProvideJobsPoolSize,
  protocolPrefix,
  provideValidity,
  refreshInterval,
  reprovideInterval,
  requestTimeout,
  resiliency,
  resolveOptions
} from "../src/index.js"
import { longestWins, PEER_IDS } from "./fixtures.js"

const failure = (input: unknown): InvalidOptionError => {
  const result = resolveOptions(input as DHTOptions)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to be refused`)
  expect(result.left).toBeInstanceOf(InvalidOptionError)
  return result.left
}

const P = PEER_IDS[0]

// [what, options as written by a user (object or list), field named, what the reason says]
const table: ReadonlyArray<readonly [string, unknown, string, RegExp]> = [
  ["bucketSize 0", { bucketSize: 0 }, "bucketSize", /integer of at least 1, got 0/],
  ["bucketSize 0 (combinator)", [bucketSize(0)], "bucketSize", /integer of at least 1, got 0/],
  ["bucketSize fractional", { bucketSize: 2.5 }, "bucketSize", /integer of at least 1, got 2.5/],
  ["bucketSize as a string", { bucketSize: "20" }, "bucketSize", /integer of at least 1, got "20"/],
  ["concurrency -1", [concurrency(-1)], "concurrency", /integer of at least 1, got -1/],
  ["concurrency NaN", { concurrency: Number.NaN }, "concurrency", /got NaN/],
  ["resiliency 0", [resiliency(0)], "resiliency", /integer of at least 1, got 0/],
  ["resiliency above bucketSize", [bucketSize(10), resiliency(11)], "resiliency", /must not exceed bucketSize \(10\)/],
  ["maxRetryAttempts 0", [maxDhtMessageRetries(0)], "maxRetryAttempts", /integer of at least 1, got 0/],
  ["retryBackoffFactor below 1", [dhtMessageRetryBackoffFactor(0.5)], "retryBackoffFactor", /at least 1, got 0.5/],
  ["retryBackoffFactor Infinity", { retryBackoffFactor: Number.POSITIVE_INFINITY }, "retryBackoffFactor", /finite/],
  ["retry backoff NaN", [dhtMessageRetryInitialBackoff(Number.NaN)], "retryInitialBackoff", /NaN/],
  ["retry backoff negative", [dhtMessageRetryInitialBackoff(-1)], "retryInitialBackoff", /must not be negative/],
  ["retry backoff infinite", [dhtMessageRetryMaxBackoff(Duration.infinity)], "retryMaxBackoff", /must be finite/],
  [
    "retryMaxBackoff below retryInitialBackoff",
    [dhtMessageRetryInitialBackoff("20 seconds"), dhtMessageRetryMaxBackoff("5 seconds")],
    "retryMaxBackoff",
    /at least retryInitialBackoff \(20s\), got 5s/
  ],
  ["provideValidity NaN", [provideValidity(Number.NaN)], "provideValidity", /NaN/],
  ["provideValidity zero", { provideValidity: 0 }, "provideValidity", /greater than zero/],
  ["provideValidity negative string", { provideValidity: "-5 minutes" }, "provideValidity", /must not be negative/],
  ["provideValidity unparsable string", { provideValidity: "two days" }, "provideValidity", /number and a unit/],
  ["provideValidity infinite", { provideValidity: Number.POSITIVE_INFINITY }, "provideValidity", /finite/],
  ["providerAddrTTL as an object", { providerAddrTTL: { hours: 1 } }, "providerAddrTTL", /must be a duration/],
  ["refreshInterval zero", [refreshInterval(Duration.zero)], "refreshInterval", /greater than zero/],
  ["requestTimeout negative bigint", [requestTimeout(-1n)], "requestTimeout", /must not be negative/],
  ["requestTimeout [NaN, 0]", { requestTimeout: [Number.NaN, 0] }, "requestTimeout", /NaN/],
  ["maxRecordAge boolean", { maxRecordAge: true }, "maxRecordAge", /must be a duration/],
  [
    "reprovideInterval not shorter than provideValidity",
    [provideValidity("24 hours"), reprovideInterval("24 hours")],
    "reprovideInterval",
    /shorter than provideValidity/
  ],
  ["unknown mode", { mode: "relay" }, "mode", /"client", "server", "auto", "autoServer", got "relay"/],
  [
    "unknown reprovideStrategy",
    { reprovideStrategy: "batch" },
    "reprovideStrategy",
    /"sweep" or "classic", got "batch"/
  ],
  ["unknown mode (combinator)", [mode("peer" as never)], "mode", /got "peer"/],
  ["autoRefresh not a boolean", { autoRefresh: "yes" }, "autoRefresh", /true or false, got "yes"/],
  ["filterLocalhostInResponses null", { filterLocalhostInResponses: null }, "filterLocalhostInResponses", /got null/],
  ["enableOptimisticProvide number", { enableOptimisticProvide: 1 }, "enableOptimisticProvide", /true or false/],
  [
    "optimisticProvideJobsPoolSize 0",
    [optimisticProvideJobsPoolSize(0)],
    "optimisticProvideJobsPoolSize",
    /at least 1/
  ],
  ["lookupCheckConcurrency 0", [lookupCheckConcurrency(0)], "lookupCheckConcurrency", /at least 1/],
  ["maxRoutingTableSize 0", [maxRoutingTableSize(0)], "maxRoutingTableSize", /at least 1, got 0/],
  [
    "maxRoutingTableSize below bucketSize",
    [bucketSize(20), maxRoutingTableSize(10)],
    "maxRoutingTableSize",
    /at least bucketSize \(20\)/
  ],
  ["protocolPrefix without slash", [protocolPrefix("ipfs")], "protocolPrefix", /"\/name" segments/],
  ["protocolPrefix with trailing slash", [protocolPrefix("/ipfs/")], "protocolPrefix", /"\/name" segments/],
  ["protocolPrefix with a space", [protocolPrefix("/my app")], "protocolPrefix", /without spaces/],
  ["protocolPrefix empty", [protocolPrefix("")], "protocolPrefix", /"\/name" segments/],
  [
    "bootstrap address without /p2p/",
    [bootstrapPeers(["/ip4/1.2.3.4/tcp/4001"])],
    "bootstrapPeers[0]",
    /does not end with \/p2p\/<peer ID>/
  ],
  [
    "unparsable bootstrap address",
    { bootstrapPeers: [`/p2p/${P}`, "not a multiaddr"] },
    "bootstrapPeers[1]",
    /cannot parse multiaddr "not a multiaddr"/
  ],
  [
    "bootstrap address with a bad IP",
    [bootstrapPeers([`/ip4/999.1.1.1/tcp/1/p2p/${P}`])],
    "bootstrapPeers[0]",
    /cannot parse/
  ],
  [
    "bootstrap address with a bad peer ID",
    [bootstrapPeers(["/ip4/1.2.3.4/tcp/1/p2p/QmNotAPeer"])],
    "bootstrapPeers[0]",
    /invalid peer ID/
  ],
  [
    "bootstrap PeerInfo with a bad ID",
    [bootstrapPeers([{ id: "nope", multiaddrs: [] }])],
    "bootstrapPeers[0]",
    /invalid peer ID "nope"/
  ],
  [
    "bootstrap PeerInfo with an address for another peer",
    [bootstrapPeers([{ id: P, multiaddrs: [`/ip4/1.2.3.4/tcp/1/p2p/${PEER_IDS[1]}`] }])],
    "bootstrapPeers[0]",
    /names peer .* but the entry is for/
  ],
  [
    "bootstrap relay address without a target",
    [bootstrapPeers([`/ip4/1.2.3.4/tcp/1/p2p/${P}/p2p-circuit`])],
    "bootstrapPeers[0]",
    /does not end with \/p2p\//
  ],
  ["bootstrap entry of a wrong kind", { bootstrapPeers: [42] }, "bootstrapPeers[0]", /must be a multiaddr .* got 42/],
  ["bootstrapPeers not an array", { bootstrapPeers: `/p2p/${P}` }, "bootstrapPeers", /must be an array/],
  [
    "providerStore missing methods",
    { providerStore: { addProvider() {} } },
    "providerStore",
    /addProvider, getProviders, cleanup, close/
  ],
  ["datastore of a wrong kind", { datastore: new Map() }, "datastore", /interface-datastore Datastore/],
  ["validator of a wrong kind", { validator: () => true }, "validator", /must be a Validator/],
  [
    "validator record with a non-validator",
    { validator: { myapp: {} } },
    "validator",
    /record of namespace to Validator/
  ],
  [
    "validator record with a bad namespace",
    { validator: { "my/app": longestWins } },
    "validator",
    /namespace .*"my\/app"/
  ],
  ["peerFilter not a function", { peerFilter: "public" }, "peerFilter", /must be a function/],
  ["misspelt option", { bucketsize: 20 }, "bucketsize", /not a DHT option/],
  ["options of a wrong kind", 42, "options", /DHTOptions object or an array of DHTOption, got 42/],
  ["null options", null, "options", /got null/],
  ["a list entry that is not a DHTOption", [bucketSize(20), { bucketSize: 20 }], "options[1]", /not a DHTOption/]
]

describe("bad values fail with InvalidOptionError naming the field", () => {
  it.each(table)("%s", (_what, input, field, reason) => {
    const error = failure(input)
    expect(error.field).toBe(field)
    expect(error.reason).toMatch(reason)
    expect(error.message).toBe(`invalid option ${field}: ${error.reason}`)
  })

  it("the first bad field is reported, in declaration order", () => {
    expect(failure({ concurrency: 0, bucketSize: 0 }).field).toBe("bucketSize")
  })

  it("a later good value repairs an earlier bad one", () => {
    expect(Either.isRight(resolveOptions([bucketSize(0), bucketSize(5)]))).toBe(true)
  })
})

describe("DHTConfig.validate refuses configs changed into invalid ones", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["bucketSize 0", { ...DHTConfig.defaults, bucketSize: 0 }, "bucketSize"],
    ["a duration input instead of a Duration", { ...DHTConfig.defaults, requestTimeout: 1000 }, "requestTimeout"],
    ["an infinite duration", { ...DHTConfig.defaults, maxRecordAge: Duration.infinity }, "maxRecordAge"],
    ["a bootstrap string", { ...DHTConfig.defaults, bootstrapPeers: [`/p2p/${P}`] }, "bootstrapPeers[0]"],
    [
      "a bootstrap PeerInfo with a string address",
      { ...DHTConfig.defaults, bootstrapPeers: [{ id: peerIdFromString(P), multiaddrs: ["/ip4/1.2.3.4/tcp/1"] }] },
      "bootstrapPeers[0]"
    ],
    ["a missing field", { ...DHTConfig.defaults, mode: undefined }, "mode"],
    [
      "a bare value where an Option belongs",
      { ...DHTConfig.defaults, maxRoutingTableSize: 100 },
      "maxRoutingTableSize"
    ],
    ["a wrong value inside an Option", { ...DHTConfig.defaults, peerFilter: Option.some(1) }, "peerFilter"],
    ["an extra field", { ...DHTConfig.defaults, k: 20 }, "k"],
    ["resiliency above bucketSize", { ...DHTConfig.defaults, bucketSize: 2, resiliency: 3 }, "resiliency"]
  ]
  it.each(cases)("%s", (_what, config, field) => {
    const result = DHTConfig.validate(config as DHTConfig)
    expect(Either.isLeft(result) && result.left.field).toBe(field)
  })
})
