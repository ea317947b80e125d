import { describe, expect, it } from "@effect/vitest"
import { InvalidOptionError } from "@effect-kad/core"
import { Duration, Either, FastCheck as fc, Option } from "effect"
import type { BootstrapPeerInput, DHTConfig, DHTOption, DHTOptions } from "../src/index.js"
import * as O from "../src/index.js"
import { longestWins, MapDatastore, MapProviderStore, PEER_IDS } from "./fixtures.js"

/** One option together with the field it sets and the value that field must read afterwards. */
interface Step {
  readonly option: DHTOption
  readonly field: keyof DHTConfig
  readonly expected: unknown
}

/** How a field of a resolved config is compared: durations in ms, Options unwrapped, peers as strings. */
const read = (config: DHTConfig, field: keyof DHTConfig): unknown => {
  const value = config[field]
  if (Duration.isDuration(value)) return Duration.toMillis(value)
  if (Option.isOption(value)) return Option.getOrUndefined(value as Option.Option<unknown>)
  if (field === "bootstrapPeers") return config.bootstrapPeers.map((p) => [p.id.toString(), p.multiaddrs.map(String)])
  return value
}

/** Every form a duration of `ms` milliseconds may be written in. */
const durationInput = (ms: number): fc.Arbitrary<Duration.DurationInput> =>
  fc.constantFrom<Duration.DurationInput>(
    ms,
    `${ms} millis`,
    Duration.millis(ms),
    [Math.floor(ms / 1000), (ms % 1000) * 1_000_000],
    BigInt(ms) * 1_000_000n
  )

const durationStep = (
  field: keyof DHTConfig,
  make: (d: Duration.DurationInput) => DHTOption,
  minMs: number,
  maxMs: number
): fc.Arbitrary<Step> =>
  fc
    .integer({ min: minMs, max: maxMs })
    .chain((ms) => durationInput(ms).map((input) => ({ option: make(input), field, expected: ms })))

const intStep = (field: keyof DHTConfig, make: (n: number) => DHTOption, min: number, max: number) =>
  fc.integer({ min, max }).map((n): Step => ({ option: make(n), field, expected: n }))

const address = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 }))
  .map(([a, b, port]) => `/ip4/${a}.${b}.0.1/tcp/${port}`)

const bootstrapEntry = fc.tuple(fc.constantFrom(...PEER_IDS), fc.array(address, { maxLength: 3 }), fc.boolean())

/** Joins entries per peer the way the resolved list must, to compare against. */
const mergeModel = (entries: ReadonlyArray<readonly [string, ReadonlyArray<string>, boolean]>) => {
  const byId = new Map<string, Array<string>>()
  for (const [id, addrs] of entries) {
    const list = byId.get(id) ?? []
    for (const addr of addrs) if (!list.includes(addr)) list.push(addr)
    byId.set(id, list)
  }
  return [...byId]
}

const bootstrapStep: fc.Arbitrary<Step> = fc.array(bootstrapEntry, { maxLength: 6 }).map((entries) => ({
  option: O.bootstrapPeers(
    entries.flatMap(
      ([id, addrs, asStrings]): Array<BootstrapPeerInput> =>
        asStrings
          ? addrs.length === 0
            ? [`/p2p/${id}`]
            : addrs.map((addr) => `${addr}/p2p/${id}`)
          : [{ id, multiaddrs: addrs }]
    )
  ),
  field: "bootstrapPeers",
  expected: mergeModel(entries)
}))

const store = new MapProviderStore()
const datastore = new MapDatastore()
const filter = () => true

const hour = 3_600_000

/**
 * Valid options only. The ranges keep the cross-field rules true whatever
 * the combination: resiliency <= 20 <= bucketSize, retryInitialBackoff <=
 * 1 s <= retryMaxBackoff, reprovideInterval < 24 h <= provideValidity,
 * maxRoutingTableSize >= 100 >= bucketSize.
 */
const validStep: fc.Arbitrary<Step> = fc.oneof(
  fc.constantFrom(...O.dhtModes).map((m): Step => ({ option: O.mode(m), field: "mode", expected: m })),
  intStep("bucketSize", O.bucketSize, 20, 100),
  intStep("concurrency", O.concurrency, 1, 64),
  intStep("resiliency", O.resiliency, 1, 20),
  bootstrapStep,
  intStep("maxRetryAttempts", O.maxDhtMessageRetries, 1, 10),
  durationStep("retryInitialBackoff", O.dhtMessageRetryInitialBackoff, 0, 1000),
  durationStep("retryMaxBackoff", O.dhtMessageRetryMaxBackoff, 1000, 60_000),
  fc
    .double({ min: 1, max: 4, noNaN: true })
    .map((f): Step => ({ option: O.dhtMessageRetryBackoffFactor(f), field: "retryBackoffFactor", expected: f })),
  fc
    .boolean()
    .map((b): Step => ({ option: O.enableOptimisticProvide(b), field: "enableOptimisticProvide", expected: b })),
  intStep("optimisticProvideJobsPoolSize", O.optimisticProvideJobsPoolSize, 1, 1000),
  intStep("lookupCheckConcurrency", O.lookupCheckConcurrency, 1, 2048),
  intStep("maxRoutingTableSize", O.maxRoutingTableSize, 100, 10_000),
  fc.boolean().map((b): Step => ({ option: O.autoRefresh(b), field: "autoRefresh", expected: b })),
  fc.constant<Step>({ option: O.disableAutoRefresh(), field: "autoRefresh", expected: false }),
  durationStep("refreshInterval", O.refreshInterval, 1, hour),
  fc.array(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { minLength: 1, maxLength: 3 }).map((segments): Step => {
    const prefix = segments.map((s) => `/${s}`).join("")
    return { option: O.protocolPrefix(prefix), field: "protocolPrefix", expected: prefix }
  }),
  durationStep("provideValidity", O.provideValidity, 24 * hour, 96 * hour),
  durationStep("providerAddrTTL", O.providerAddrTTL, 1, 48 * hour),
  durationStep("maxRecordAge", O.maxRecordAge, 1, 72 * hour),
  fc
    .boolean()
    .map((b): Step => ({ option: O.filterLocalhostInResponses(b), field: "filterLocalhostInResponses", expected: b })),
  durationStep("requestTimeout", O.requestTimeout, 1, 60_000),
  durationStep("reprovideInterval", O.reprovideInterval, hour, 23 * hour),
  fc.constant<Step>({ option: O.providerStore(store), field: "providerStore", expected: store }),
  fc.constant<Step>({ option: O.datastore(datastore), field: "datastore", expected: datastore }),
  fc.constant<Step>({ option: O.validator(longestWins), field: "validator", expected: longestWins }),
  fc.constant<Step>({ option: O.peerFilter(filter), field: "peerFilter", expected: filter })
)

/** Options that are wrong on their own, with the field they must be reported under. */
const invalidStep: fc.Arbitrary<readonly [DHTOption, string]> = fc.oneof(
  fc.integer({ max: 0 }).map((n) => [O.bucketSize(n), "bucketSize"] as const),
  fc.double({ min: 1.01, max: 99.99, noInteger: true }).map((n) => [O.concurrency(n), "concurrency"] as const),
  fc.integer({ max: 0 }).map((n) => [O.maxDhtMessageRetries(n), "maxRetryAttempts"] as const),
  fc.double({ max: 0.999, noNaN: true }).map((f) => [O.dhtMessageRetryBackoffFactor(f), "retryBackoffFactor"] as const),
  fc.integer({ min: -1_000_000, max: -1 }).map((ms) => [O.requestTimeout(ms), "requestTimeout"] as const),
  fc.constant([O.provideValidity(Number.NaN), "provideValidity"] as const),
  fc.constant([O.refreshInterval(0), "refreshInterval"] as const),
  fc
    .string()
    .filter((s) => !/^(\/[^/\s]+)+$/.test(s))
    .map((s) => [O.protocolPrefix(s), "protocolPrefix"] as const),
  fc
    .constantFrom("/ip4/1.2.3.4/tcp/1", "garbage", "/p2p/QmNope")
    .map((a) => [O.bootstrapPeers([a]), "bootstrapPeers[0]"] as const)
)

const resolve = (input: ReadonlyArray<DHTOption> | DHTOptions): DHTConfig => {
  const result = O.resolveOptions(input)
  if (Either.isLeft(result)) throw new Error(`expected success, got ${result.left.message}`)
  return result.right
}

describe("properties", () => {
  it.prop(
    "any valid option list resolves, each field to the last value set for it (or its default)",
    [fc.array(validStep, { maxLength: 30 })],
    ([steps]) => {
      const config = resolve(steps.map((s) => s.option))
      const last = new Map<keyof DHTConfig, unknown>()
      for (const step of steps) last.set(step.field, step.expected)
      for (const field of Object.keys(O.DHTConfig.defaults) as Array<keyof DHTConfig>) {
        const expected = last.has(field) ? last.get(field) : read(O.DHTConfig.defaults, field)
        expect(read(config, field), field).toEqual(expected)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "any resolved config re-validates unchanged",
    [fc.array(validStep, { maxLength: 30 })],
    ([steps]) => {
      const config = resolve(steps.map((s) => s.option))
      const again = O.DHTConfig.validate(config)
      expect(Either.isRight(again)).toBe(true)
      expect(Either.getOrThrow(again)).toEqual(config)
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "a list resolves like the object of its merged fields",
    [fc.array(validStep, { maxLength: 30 })],
    ([steps]) => {
      const merged: DHTOptions = Object.assign({}, ...steps.map((s) => s.option.patch))
      expect(resolve(steps.map((s) => s.option))).toEqual(resolve(merged))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "extending a spread list leaves the original list and its resolution unchanged",
    [fc.array(validStep, { maxLength: 15 }), fc.array(validStep, { maxLength: 15 })],
    ([base, extra]) => {
      const list = base.map((s) => s.option)
      const before = resolve(list)
      const copy = [...list]
      resolve([...list, ...extra.map((s) => s.option)])
      expect(list).toEqual(copy)
      expect(resolve(list)).toEqual(before)
    },
    { fastCheck: { numRuns: 100 } }
  )

  it.prop(
    "a bad option at the end of a valid list is reported under its field",
    [fc.array(validStep, { maxLength: 15 }), invalidStep],
    ([steps, [bad, field]]) => {
      const result = O.resolveOptions([...steps.map((s) => s.option), bad])
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect(error.field).toBe(field)
    },
    { fastCheck: { numRuns: 300 } }
  )
})
