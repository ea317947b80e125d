/**
 * DHT options read from the environment, for processes configured by their
 * deployment rather than by code: each variable is one option of
 * {@link DHTOptions}, read through Effect's `Config`, so a test or a
 * program can supply them with its own `ConfigProvider`.
 *
 * @module
 */
import { InvalidOptionError } from "@effect-kad/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { DHTOptions } from "./options.js"

/** Reads one variable's text into its option's input; `{ invalid }` when it cannot. */
export type EnvParser = (text: string) => unknown

const integer: EnvParser = (text) => (/^-?\d+$/.test(text.trim()) ? Number(text) : { invalid: "must be an integer" })

const boolean: EnvParser = (text) => {
  const value = text.trim().toLowerCase()
  if (value === "true" || value === "1") return true
  if (value === "false" || value === "0") return false
  return { invalid: "must be true, false, 1 or 0" }
}

/** A duration as `Duration.DurationInput` text (`"10 minutes"`), or a bare number of milliseconds. */
const duration: EnvParser = (text) => (/^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text.trim())

const text: EnvParser = (value) => value.trim()

/** A comma-separated list of multiaddrs ending in `/p2p/<peer ID>`. */
const list: EnvParser = (value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0)

/**
 * The environment variables read, and the option each sets. Values are
 * checked by the same validation as options written in code.
 */
export const ENV_VARIABLES = {
  KAD_DHT_MODE: ["mode", text],
  KAD_DHT_BUCKET_SIZE: ["bucketSize", integer],
  KAD_DHT_CONCURRENCY: ["concurrency", integer],
  KAD_DHT_RESILIENCY: ["resiliency", integer],
  KAD_DHT_PROTOCOL_PREFIX: ["protocolPrefix", text],
  KAD_DHT_BOOTSTRAP_PEERS: ["bootstrapPeers", list],
  KAD_DHT_AUTO_REFRESH: ["autoRefresh", boolean],
  KAD_DHT_REFRESH_INTERVAL: ["refreshInterval", duration],
  KAD_DHT_REQUEST_TIMEOUT: ["requestTimeout", duration],
  KAD_DHT_MAX_RECORD_AGE: ["maxRecordAge", duration],
  KAD_DHT_PROVIDE_VALIDITY: ["provideValidity", duration],
  KAD_DHT_REPROVIDE_INTERVAL: ["reprovideInterval", duration],
  KAD_DHT_REPROVIDE_STRATEGY: ["reprovideStrategy", text],
  KAD_DHT_FILTER_LOCALHOST_IN_RESPONSES: ["filterLocalhostInResponses", boolean],
  KAD_DHT_MAX_ROUTING_TABLE_SIZE: ["maxRoutingTableSize", integer]
} as const satisfies Record<string, readonly [keyof DHTOptions, EnvParser]>

const isInvalid = (value: unknown): value is { readonly invalid: string } =>
  typeof value === "object" && value !== null && "invalid" in value && !Array.isArray(value)

/**
 * The {@link DHTOptions} the environment sets (see {@link ENV_VARIABLES}):
 * unset variables are left out, so they take the defaults. A value that
 * cannot be read as its option's type fails with `InvalidOptionError`
 * naming the option; a value of the right type but out of range is left to
 * the options' own validation.
 *
 * | variable | option | example |
 * | --- | --- | --- |
 * | `KAD_DHT_MODE` | `mode` | `server` |
 * | `KAD_DHT_BUCKET_SIZE` | `bucketSize` | `20` |
 * | `KAD_DHT_CONCURRENCY` | `concurrency` | `10` |
 * | `KAD_DHT_RESILIENCY` | `resiliency` | `3` |
 * | `KAD_DHT_PROTOCOL_PREFIX` | `protocolPrefix` | `/ipfs` |
 * | `KAD_DHT_BOOTSTRAP_PEERS` | `bootstrapPeers` | `/ip4/1.2.3.4/tcp/4001/p2p/12D3…,/dnsaddr/…` |
 * | `KAD_DHT_AUTO_REFRESH` | `autoRefresh` | `false` |
 * | `KAD_DHT_REFRESH_INTERVAL` | `refreshInterval` | `10 minutes` or `600000` |
 * | `KAD_DHT_REQUEST_TIMEOUT` | `requestTimeout` | `10 seconds` |
 * | `KAD_DHT_MAX_RECORD_AGE` | `maxRecordAge` | `48 hours` |
 * | `KAD_DHT_PROVIDE_VALIDITY` | `provideValidity` | `48 hours` |
 * | `KAD_DHT_REPROVIDE_INTERVAL` | `reprovideInterval` | `22 hours` |
 * | `KAD_DHT_REPROVIDE_STRATEGY` | `reprovideStrategy` | `sweep` |
 * | `KAD_DHT_FILTER_LOCALHOST_IN_RESPONSES` | `filterLocalhostInResponses` | `true` |
 * | `KAD_DHT_MAX_ROUTING_TABLE_SIZE` | `maxRoutingTableSize` | `1000` |
 *
 * @example
 * ```ts
 * // KAD_DHT_MODE=server KAD_DHT_BUCKET_SIZE=30 node app.js
 * const options = yield* optionsFromEnv // { mode: "server", bucketSize: 30 }
 * ```
 */
export const optionsFromEnv: Effect.Effect<DHTOptions, InvalidOptionError | ConfigError.ConfigError> = Effect.gen(
  function* () {
    const options: Record<string, unknown> = {}
    for (const [variable, [field, parse]] of Object.entries(ENV_VARIABLES)) {
      const value = yield* Config.option(Config.string(variable))
      if (Option.isNone(value)) continue
      const parsed = parse(value.value)
      if (isInvalid(parsed)) {
        return yield* Effect.fail(new InvalidOptionError({ field, reason: `${variable} ${parsed.invalid}` }))
      }
      options[field] = parsed
    }
    return options as DHTOptions
  }
)
