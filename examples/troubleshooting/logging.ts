/**
 * Debug output. The DHT logs through Effect's logger (mode switches,
 * refused records, cleanup results at Debug; failures at Warning), so
 * the level and the destination are Effect settings:
 *
 * - Effect users provide `Logger.minimumLogLevel(LogLevel.Debug)` (and a
 *   logger of their own, if the default console format does not suit)
 *   next to the DHT layer.
 * - `IpfsDHT` has no logging option of its own. Promise users pass the
 *   DHT layer with the same logging layers merged in as the constructor's
 *   second argument, as {@link createIpfsDHTWithLogging} does.
 *
 * @module
 */
import { Dht, IpfsDHT, type OptionsInput } from "@effect-kad/dht"
import { Cause, Effect, Layer, Logger, LogLevel } from "effect"
import type { Libp2p } from "libp2p"

/** A logger that writes the guide's format, `LEVEL: time: message`, plus the error cause when there is one. */
export const guideFormatLogger = (write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ logLevel, date, message, cause }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    write(`${logLevel.label}: ${date.toISOString()}: ${text}`)
    if (!Cause.isEmpty(cause)) write(`ERROR: ${Cause.pretty(cause)}`)
  })

/** The logging layer: everything at `level` or above, written by `logger` (default: Effect's console logger). */
export const dhtLogging = (level: LogLevel.LogLevel, logger?: Logger.Logger<unknown, void>): Layer.Layer<never> =>
  logger === undefined
    ? Logger.minimumLogLevel(level)
    : Layer.merge(Logger.minimumLogLevel(level), Logger.replace(Logger.defaultLogger, logger))

/** The guide's `setupDHTLogging()` for Effect users: every log line, written by `write`. */
export const setupDHTLogging = (write: (line: string) => void): Layer.Layer<never> =>
  dhtLogging(LogLevel.All, guideFormatLogger(write))

/**
 * Effect users: provide the logging layer outermost, around the program
 * and the layer that builds the DHT, so the fibers the DHT starts
 * (refresh, mode, request handlers) inherit it.
 *
 * @example
 * ```ts
 * await program.pipe(
 *   Effect.provide(Dht.layer(host, options)),
 *   withLogging(setupDHTLogging(console.log)),
 *   Effect.runPromise
 * )
 * ```
 */
export const withLogging =
  (logging: Layer.Layer<never>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(effect, logging)

/** An `IpfsDHT` whose logs go through `logging`: the DHT layer with the logging layers merged in. */
export const createIpfsDHTWithLogging = (host: Libp2p, options: OptionsInput, logging: Layer.Layer<never>): IpfsDHT =>
  new IpfsDHT({ host }, Dht.layer(host, options).pipe(Layer.provideMerge(logging)))
