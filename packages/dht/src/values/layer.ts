/**
 * Value storage of a DHT node as one layer: validator, record store,
 * the {@link Values} service and the PUT_VALUE / GET_VALUE handlers.
 *
 * @module
 */
import { type InvalidOptionError, type Network, type Validator, withDefaultNamespaces } from "@effect-kad/core"
import type { PeerRouting, RpcHandlers } from "@effect-kad/routing"
import type * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import type { Datastore } from "interface-datastore"
import { layerValueHandlers } from "../internal/values/handlers.js"
import { RecordStore } from "./record-store.js"
import { RecordValidator } from "./validator.js"
import { Values } from "./values.js"

/** Settings of {@link layerValues}. */
export interface ValuesConfig {
  /** Stored records received longer ago than this are treated as absent and deleted (go's `MaxRecordAge`, 36 h). */
  readonly maxRecordAge: Duration.DurationInput
  /** Where records live; default an in-memory datastore. Use e.g. `datastore-level` for durability. */
  readonly datastore?: Datastore
  /**
   * The record validator; default `/pk` and `/ipns` (core's `defaultValidator()`).
   * A `NamespacedValidator` adds its namespaces to those two (and may
   * replace them by registering `pk` or `ipns`), as go's option does.
   */
  readonly validator?: Validator
  /** Time between sweeps of expired records; default 1 h. */
  readonly cleanupInterval?: Duration.DurationInput
}

/**
 * Everything value storage needs on top of peer routing: provide it with
 * `PeerRouting`, `RpcHandlers` and `Network` (as `layerPeerRouting` over a
 * network does) and it registers the PUT_VALUE / GET_VALUE handlers.
 *
 * @example
 * ```ts
 * const sim = yield* makeSimulation({ size: 100 }, layerValues({ maxRecordAge: "36 hours", validator }))
 * const value = yield* sim.nodes[3].run(Effect.flatMap(Values, (v) => v.getValue(key)))
 * ```
 */
export const layerValues = (
  config: ValuesConfig
): Layer.Layer<RecordValidator | RecordStore | Values, InvalidOptionError, PeerRouting | RpcHandlers | Network> => {
  const base = Layer.merge(
    config.validator === undefined
      ? RecordValidator.layerDefaults
      : RecordValidator.layer(withDefaultNamespaces(config.validator)),
    RecordStore.layer({
      maxRecordAge: config.maxRecordAge,
      datastore: config.datastore,
      cleanupInterval: config.cleanupInterval
    })
  )
  return Layer.merge(Values.layer, layerValueHandlers).pipe(Layer.provideMerge(base))
}
