/**
 * The record validator of a DHT node as a service, so value storage, its
 * handlers and the application share one instance.
 *
 * @module
 */
import { defaultValidator, type Validator } from "@effect-kad/core"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * Decides which values may be stored under which keys and which of several
 * valid values is best. The shape is core's plain `Validator`; call it
 * through core's `validateRecord` / `selectRecord`, which turn throws into
 * `InvalidRecordError`.
 *
 * @example
 * ```ts
 * const validator = defaultValidator().addValidator("v", sequenceValidator)
 * const layer = RecordValidator.layer(validator)
 * ```
 */
export class RecordValidator extends Context.Tag("@effect-kad/dht/RecordValidator")<RecordValidator, Validator>() {
  /** A layer holding `validator`. */
  static readonly layer = (validator: Validator): Layer.Layer<RecordValidator> =>
    Layer.succeed(RecordValidator, validator)

  /**
   * The public DHT's validators: `/pk/` and `/ipns/`. Built per layer, so
   * namespaces one node adds to its instance stay with that node.
   */
  static readonly layerDefaults: Layer.Layer<RecordValidator> = Layer.sync(RecordValidator, defaultValidator)
}
