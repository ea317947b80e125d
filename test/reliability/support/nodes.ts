/**
 * DHT nodes for the reliability suite: full simulated nodes (peer routing,
 * values, providers) on the in-memory network, a validator with a test
 * namespace, and a logger that collects what nodes complain about.
 */
import {
  defaultValidator,
  type InvalidOptionError,
  type MemoryNetworkOptions,
  type NamespacedValidator,
  type Validator
} from "@effect-kad/core"
import { layerValues, RecordStore, type RecordValidator, type Values } from "@effect-kad/dht"
import { type ContentRouting, layerContentRouting, type ProviderStoreService } from "@effect-kad/providers"
import { makeSimulation, type SimulationConfig } from "@effect-kad/routing"
import { type Duration, Effect, HashMap, Layer, List, Logger, LogLevel } from "effect"

const decoder = new TextDecoder()

/** The sequence number a `/v/` value starts with (`<n>:<payload>`), or undefined. */
export const sequenceOf = (value: Uint8Array): number | undefined => {
  const match = /^(\d+):/.exec(decoder.decode(value))
  return match === null ? undefined : Number(match[1])
}

/** `/v/` values carry a sequence number; the highest wins. Anything else is invalid. */
export const sequenceValidator: Validator = {
  validate(_key, value) {
    if (sequenceOf(value) === undefined) throw new Error("a /v/ value starts with <sequence>:")
  },
  select(_key, values) {
    let best = 0
    for (let i = 1; i < values.length; i++) {
      if ((sequenceOf(values[i]) ?? -1) > (sequenceOf(values[best]) ?? -1)) best = i
    }
    return best
  }
}

/** `/pk`, `/ipns` and the test namespace `/v`. */
export const reliabilityValidator = (): NamespacedValidator => defaultValidator().addValidator("v", sequenceValidator)

/** Services of a full simulated node on top of peer routing. */
export type FullServices = RecordValidator | RecordStore | Values | ProviderStoreService | ContentRouting

/** Settings of {@link fullSimulation}. */
export interface FullSimulationConfig extends Partial<Omit<SimulationConfig, "size" | "network">> {
  readonly size: number
  readonly network?: MemoryNetworkOptions
  readonly maxRecordAge?: Duration.DurationInput
}

/** Values and providers on every node of a simulation. */
export const fullNodeLayer = (maxRecordAge: Duration.DurationInput = "36 hours") =>
  Layer.merge(
    layerValues({ maxRecordAge, validator: reliabilityValidator(), cleanupInterval: "1 hour" }),
    layerContentRouting({ cleanupInterval: "1 hour" })
  )

/** A simulated network whose every node stores values and provider records. */
export const fullSimulation = (config: FullSimulationConfig) =>
  makeSimulation<FullServices, InvalidOptionError>({ ...config }, fullNodeLayer(config.maxRecordAge))

/** Messages a logger collected, by level. */
export interface CollectedLogs {
  readonly warnings: Array<string>
  readonly errors: Array<string>
}

/**
 * A logger that keeps warnings and worse (with their annotations) instead
 * of printing them, so a test can assert that hostile input made nothing
 * fail inside a node.
 */
export const collectingLogger = (logs: CollectedLogs) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message, annotations, cause }) => {
      if (LogLevel.lessThan(logLevel, LogLevel.Warning)) return
      const text = [
        Array.isArray(message) ? message.map(String).join(" ") : String(message),
        ...HashMap.toEntries(annotations).map(([k, v]) => `${k}=${String(v)}`),
        cause._tag === "Empty" ? "" : `cause=${String(List.fromIterable([cause]))}`
      ].join(" ")
      if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) logs.errors.push(text)
      else logs.warnings.push(text)
    })
  )

/** A fresh {@link CollectedLogs}. */
export const emptyLogs = (): CollectedLogs => ({ warnings: [], errors: [] })

/** Reads the value stored under `key` on a node, bypassing the network. */
export const storedValue = (key: Uint8Array) =>
  Effect.flatMap(RecordStore, (store) => store.get(key)).pipe(Effect.orDie)
