/**
 * The resolved configuration as an Effect service, so the DHT's layers
 * read it from the context and tests can provide their own: one Tag,
 * offered from options written in code, as the Amino defaults, or from the
 * environment.
 *
 * @module
 */
import type { InvalidOptionError } from "@effect-kad/core"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { DHTOption } from "./combinators.js"
import { DHTConfig } from "./config.js"
import { optionsFromEnv } from "./env.js"
import type { DHTOptions } from "./options.js"

/**
 * The {@link DHTConfig} every DHT component reads; a running DHT provides
 * it among its services.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const config = yield* DHTConfigTag
 *   return config.bucketSize
 * })
 * Effect.runPromise(program.pipe(Effect.provide(DHTConfigTag.layer([bucketSize(30)])))) // 30
 * ```
 */
export class DHTConfigTag extends Context.Tag("@effect-kad/options/DHTConfig")<DHTConfigTag, DHTConfig>() {
  /** Resolves user options; the layer fails with {@link InvalidOptionError} when one is bad. */
  static layer(
    input?: ReadonlyArray<DHTOption> | DHTOptions | undefined
  ): Layer.Layer<DHTConfigTag, InvalidOptionError> {
    return Layer.effect(DHTConfigTag, DHTConfig.fromOptions(input))
  }

  /** The Amino defaults. */
  static readonly layerDefaults: Layer.Layer<DHTConfigTag> = Layer.succeed(DHTConfigTag, DHTConfig.defaults)

  /**
   * Options from the environment (`KAD_DHT_MODE`, `KAD_DHT_BUCKET_SIZE`,
   * … see `optionsFromEnv` for the list), read through the current
   * `ConfigProvider`, over `input`: a variable that is set wins over the
   * same option in `input`. The layer fails with `InvalidOptionError` when
   * a value is bad, as {@link DHTConfigTag.layer} does.
   *
   * @example
   * ```ts
   * // KAD_DHT_MODE=server KAD_DHT_BOOTSTRAP_PEERS=/ip4/10.0.0.1/tcp/4001/p2p/12D3… node app.js
   * const configLayer = DHTConfigTag.layerFromEnv({ protocolPrefix: "/myapp" })
   * ```
   */
  static layerFromEnv(input: DHTOptions = {}): Layer.Layer<DHTConfigTag, InvalidOptionError | ConfigError.ConfigError> {
    return Layer.effect(
      DHTConfigTag,
      Effect.flatMap(optionsFromEnv, (env) => DHTConfig.fromOptions({ ...input, ...env }))
    )
  }
}
