/**
 * The resolved configuration as an Effect service, so the DHT's layers
 * read it from the context and tests can provide their own.
 *
 * @module
 */
import type { InvalidOptionError } from "@effect-kad/core"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { DHTOption } from "./combinators.js"
import { DHTConfig } from "./config.js"
import type { DHTOptions } from "./options.js"

/**
 * The {@link DHTConfig} every DHT component reads.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const config = yield* DHTConfigService
 *   return config.bucketSize
 * })
 * Effect.runPromise(program.pipe(Effect.provide(DHTConfigService.layer([bucketSize(30)])))) // 30
 * ```
 */
export class DHTConfigService extends Context.Tag("@effect-kad/options/DHTConfig")<DHTConfigService, DHTConfig>() {
  /** Resolves user options; the layer fails with {@link InvalidOptionError} when one is bad. */
  static layer(
    input?: ReadonlyArray<DHTOption> | DHTOptions | undefined
  ): Layer.Layer<DHTConfigService, InvalidOptionError> {
    return Layer.effect(DHTConfigService, DHTConfig.fromOptions(input))
  }

  /** The Amino defaults. */
  static readonly Default: Layer.Layer<DHTConfigService> = Layer.succeed(DHTConfigService, DHTConfig.defaults)
}
