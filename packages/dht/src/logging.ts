/**
 * Logging: every `Effect.log*` inside the DHT goes to a `@libp2p/logger`
 * debug namespace (`effect-kad:dht`, errors to `effect-kad:dht:error`, ...),
 * so `DEBUG=effect-kad*` shows it exactly as `DEBUG=libp2p:*` shows
 * js-libp2p's own logs. Effect users can swap this layer for any Effect
 * logger.
 *
 * @module
 */
import { logger as libp2pLogger } from "@libp2p/logger"
import * as Cause from "effect/Cause"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const render = (message: unknown): string =>
  Array.isArray(message)
    ? message.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")
    : String(message)

/**
 * An Effect logger writing to the debug namespace `namespace`. Annotations
 * are appended as `key=value`; causes are printed pretty.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(layerDebugLogging("effect-kad:dht")))
 * // run with DEBUG=effect-kad* to see the output
 * ```
 */
export const debugLogger = (namespace: string): Logger.Logger<unknown, void> => {
  const log = libp2pLogger(namespace)
  return Logger.make(({ logLevel, message, annotations, cause }) => {
    const severe = LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)
    // debug lines are only built when their namespace is enabled: hot paths log at Debug
    if (!severe && !log.enabled) return
    const parts = [render(message)]
    for (const [key, value] of HashMap.toEntries(annotations)) parts.push(`${key}=${String(value)}`)
    if (!Cause.isEmpty(cause)) parts.push(Cause.pretty(cause))
    const line = parts.join(" ")
    if (severe) log.error("%s", line)
    else log("%s", line)
  })
}

/**
 * Replaces Effect's console logger with {@link debugLogger} and lets debug
 * messages through (the namespace decides whether they are printed).
 */
export const layerDebugLogging = (namespace = "effect-kad:dht"): Layer.Layer<never> =>
  Layer.merge(Logger.replace(Logger.defaultLogger, debugLogger(namespace)), Logger.minimumLogLevel(LogLevel.Debug))
