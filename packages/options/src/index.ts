/**
 * @effect-kad/options: how a DHT node is configured. Write a
 * {@link DHTOptions} object or a list of {@link DHTOption}s built with the
 * combinators (`mode`, `bucketSize`, ...), then resolve it into a validated
 * {@link DHTConfig} with the Amino defaults filled in.
 *
 * @example
 * ```ts
 * import { bucketSize, concurrency, DHTMode, mode, resolveOptions } from "@effect-kad/options"
 *
 * const base = [mode(DHTMode.client), bucketSize(15)]
 * const config = resolveOptions([...base, concurrency(5)])
 * ```
 *
 * @module
 */
export * from "./addresses.js"
export * from "./bootstrap-peers.js"
export * from "./combinators.js"
export {
  DHTConfig,
  DHTConfigSchema,
  DHTOptionsSchema,
  foldOptions,
  kadProtocol,
  resolveOptions,
  toInvalidOptionError
} from "./config.js"
export { ENV_VARIABLES, optionsFromEnv } from "./env.js"
export { decodeBootstrapPeer, decodeDurationInput, PeerInfoSchema } from "./fields.js"
export * from "./metrics.js"
export * from "./mode.js"
export * from "./options.js"
export * from "./service.js"
