import { describe, expect, it } from "@effect/vitest"
import { InvalidOptionError } from "@effect-kad/core"
import { ConfigProvider, Context, Duration, Effect, Either, Layer, Option } from "effect"
import {
  bucketSize,
  DHTConfig,
  DHTConfigTag,
  DHTMode,
  dhtMessageRetryBackoffFactor,
  kadProtocol,
  maxDhtMessageRetries,
  protocolPrefix,
  resolveOptions
} from "../src/index.js"

const ok = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected success, got ${String(either.left)}`)
  return either.right
}

describe("Amino defaults", () => {
  it("match go-libp2p-kad-dht's Amino values and the guide's retry settings", () => {
    const d = DHTConfig.defaults
    expect(d.mode).toBe("auto")
    expect(d.bucketSize).toBe(20)
    expect(d.concurrency).toBe(10)
    expect(d.resiliency).toBe(3)
    expect(Duration.toMillis(d.provideValidity)).toBe(48 * 3_600_000)
    expect(Duration.toMillis(d.providerAddrTTL)).toBe(24 * 3_600_000)
    expect(d.autoRefresh).toBe(true)
    expect(Duration.toMillis(d.refreshInterval)).toBe(10 * 60_000)
    expect(d.bootstrapPeers).toEqual([])
    expect(d.maxRetryAttempts).toBe(3)
    expect(Duration.toMillis(d.retryInitialBackoff)).toBe(500)
    expect(Duration.toMillis(d.retryMaxBackoff)).toBe(30_000)
    expect(d.retryBackoffFactor).toBe(2)
    expect(d.filterLocalhostInResponses).toBe(true)
    expect(d.protocolPrefix).toBe("/ipfs")
    expect(Duration.toMillis(d.maxRecordAge)).toBe(36 * 3_600_000)
    expect(Option.isNone(d.maxRoutingTableSize)).toBe(true)
    expect(d.lookupCheckConcurrency).toBe(256)
    expect(d.enableOptimisticProvide).toBe(false)
    expect(d.optimisticProvideJobsPoolSize).toBe(60)
    expect(Duration.toMillis(d.reprovideInterval)).toBe(22 * 3_600_000)
    expect(d.reprovideStrategy).toBe("sweep")
    expect(Duration.toMillis(d.requestTimeout)).toBe(10_000)
    expect(Option.isNone(d.providerStore)).toBe(true)
    expect(Option.isNone(d.datastore)).toBe(true)
    expect(Option.isNone(d.validator)).toBe(true)
    expect(Option.isNone(d.peerFilter)).toBe(true)
  })

  it("are what no options, an empty object and an empty list resolve to", () => {
    expect(ok(resolveOptions())).toEqual(DHTConfig.defaults)
    expect(ok(resolveOptions(undefined))).toEqual(DHTConfig.defaults)
    expect(ok(resolveOptions({}))).toEqual(DHTConfig.defaults)
    expect(ok(resolveOptions([]))).toEqual(DHTConfig.defaults)
  })

  it("fill in every field that an object leaves out, undefined included", () => {
    const config = ok(resolveOptions({ bucketSize: 30, concurrency: undefined }))
    expect(config).toEqual({ ...DHTConfig.defaults, bucketSize: 30 })
  })

  it("validate against the config schema", () => {
    expect(ok(DHTConfig.validate(DHTConfig.defaults))).toEqual(DHTConfig.defaults)
  })

  it("speak /ipfs/kad/1.0.0, and a prefix changes the protocol", () => {
    expect(DHTConfig.protocol(DHTConfig.defaults)).toBe("/ipfs/kad/1.0.0")
    expect(DHTConfig.protocol(ok(resolveOptions([protocolPrefix("/myapp")])))).toBe("/myapp/kad/1.0.0")
    expect(kadProtocol("/ipfs/lan")).toBe("/ipfs/lan/kad/1.0.0")
  })

  it("retryPolicy hands the retry fields to core's retry schedule", () => {
    const config = ok(resolveOptions([maxDhtMessageRetries(5), dhtMessageRetryBackoffFactor(1.5)]))
    expect(DHTConfig.retryPolicy(config)).toEqual({
      maxAttempts: 5,
      initialBackoff: config.retryInitialBackoff,
      maxBackoff: config.retryMaxBackoff,
      backoffFactor: 1.5
    })
  })

  it("DHTMode works as a value and as a type", () => {
    const m: DHTMode = DHTMode.auto
    expect(m).toBe("auto")
    expect([DHTMode.client, DHTMode.server, DHTMode.auto]).toEqual(["client", "server", "auto"])
  })
})

describe("DHTConfig.fromOptions and DHTConfigTag", () => {
  it.effect("fromOptions resolves as an Effect", () =>
    Effect.gen(function* () {
      const config = yield* DHTConfig.fromOptions([bucketSize(25)])
      expect(config.bucketSize).toBe(25)
    })
  )

  it.effect("fromOptions fails with InvalidOptionError naming the field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(DHTConfig.fromOptions({ concurrency: 0 }))
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect(error.field).toBe("concurrency")
      expect(error.message).toMatch(/^invalid option concurrency: /)
    })
  )

  it.effect("the service layer provides the resolved config", () =>
    Effect.gen(function* () {
      const config = yield* DHTConfigTag
      expect(config.mode).toBe("server")
      expect(config.bucketSize).toBe(30)
    }).pipe(Effect.provide(DHTConfigTag.layer({ mode: DHTMode.server, bucketSize: 30 })))
  )

  it.effect("the default layer provides the Amino defaults", () =>
    Effect.gen(function* () {
      expect(yield* DHTConfigTag).toEqual(DHTConfig.defaults)
    }).pipe(Effect.provide(DHTConfigTag.layerDefaults))
  )

  it.effect("building the layer from a bad option fails with InvalidOptionError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(DHTConfigTag.layer([bucketSize(-3)])).pipe(Effect.scoped))
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect(error.field).toBe("bucketSize")
    })
  )
})

describe("DHTConfigTag.layerFromEnv", () => {
  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  const fromEnv = (env: Record<string, string>, input?: Parameters<typeof DHTConfigTag.layerFromEnv>[0]) =>
    Layer.build(DHTConfigTag.layerFromEnv(input).pipe(Layer.provide(withEnv(env)))).pipe(
      Effect.map(Context.get(DHTConfigTag)),
      Effect.scoped
    )

  it.effect("with no variable set, the options given (or the defaults) stand", () =>
    Effect.gen(function* () {
      expect(yield* fromEnv({})).toEqual(DHTConfig.defaults)
      expect((yield* fromEnv({}, { bucketSize: 12 })).bucketSize).toBe(12)
    })
  )

  it.effect("reads each kind of variable, and a set variable wins over the same option in code", () =>
    Effect.gen(function* () {
      const config = yield* fromEnv(
        {
          KAD_DHT_MODE: "server",
          KAD_DHT_BUCKET_SIZE: "30",
          KAD_DHT_AUTO_REFRESH: "false",
          KAD_DHT_REFRESH_INTERVAL: "5 minutes",
          KAD_DHT_REQUEST_TIMEOUT: "2500",
          KAD_DHT_PROTOCOL_PREFIX: "/myapp",
          KAD_DHT_BOOTSTRAP_PEERS: " /ip4/10.0.0.1/tcp/4001/p2p/12D3KooWLRPJAA5o6Z6hKQs6vK1T3sFrZ3nHnBoQdhWbyhKCmvsE ,"
        },
        { bucketSize: 12, concurrency: 7 }
      )
      expect(config.mode).toBe("server")
      expect(config.bucketSize).toBe(30)
      expect(config.concurrency).toBe(7)
      expect(config.autoRefresh).toBe(false)
      expect(Duration.toMillis(config.refreshInterval)).toBe(5 * 60_000)
      expect(Duration.toMillis(config.requestTimeout)).toBe(2500)
      expect(DHTConfig.protocol(config)).toBe("/myapp/kad/1.0.0")
      expect(config.bootstrapPeers.map((peer) => peer.id.toString())).toEqual([
        "12D3KooWLRPJAA5o6Z6hKQs6vK1T3sFrZ3nHnBoQdhWbyhKCmvsE"
      ])
    })
  )

  it.effect("a value of the wrong type fails the layer with InvalidOptionError naming the option", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(fromEnv({ KAD_DHT_BUCKET_SIZE: "twenty" }))
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect((error as InvalidOptionError).field).toBe("bucketSize")
      const flag = yield* Effect.flip(fromEnv({ KAD_DHT_AUTO_REFRESH: "maybe" }))
      expect((flag as InvalidOptionError).field).toBe("autoRefresh")
    })
  )

  it.effect("a value out of range fails through the options' own validation", () =>
    Effect.gen(function* () {
      const mode = yield* Effect.flip(fromEnv({ KAD_DHT_MODE: "sometimes" }))
      expect((mode as InvalidOptionError).field).toBe("mode")
      const size = yield* Effect.flip(fromEnv({ KAD_DHT_BUCKET_SIZE: "-3" }))
      expect((size as InvalidOptionError).field).toBe("bucketSize")
    })
  )
})
