/**
 * The record validation contract and its namespaced router.
 *
 * A validator decides whether a value may be stored under a key and, among
 * several valid values, which one is best. Validators are plain objects so
 * they are easy to write without Effect; the DHT calls them through
 * {@link validateRecord} and {@link selectRecord}, which turn throws and
 * rejections into {@link InvalidRecordError}.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { InvalidRecordError } from "../errors.js"

/**
 * Decides validity and preference of the values stored under keys of one
 * namespace.
 *
 * @example
 * ```ts
 * const latestWins: Validator = {
 *   validate: (_key, value) => {
 *     if (value.byteLength === 0) throw new Error("empty value")
 *   },
 *   select: (_key, values) => values.length - 1
 * }
 * ```
 */
export interface Validator {
  /** Throws (or rejects) when `value` may not be stored under `key`. */
  validate(key: Uint8Array, value: Uint8Array): void | Promise<void>
  /** Index of the best of two or more values. Must be stable: the same input gives the same answer. */
  select(key: Uint8Array, values: ReadonlyArray<Uint8Array>): number | Promise<number>
}

/** Runs `validator.validate`, mapping any failure to {@link InvalidRecordError}. */
export const validateRecord = (
  validator: Validator,
  key: Uint8Array,
  value: Uint8Array
): Effect.Effect<void, InvalidRecordError> =>
  Effect.tryPromise({
    try: async () => {
      await validator.validate(key, value)
    },
    catch: (cause) => toInvalidRecord(key, cause)
  })

/**
 * Runs `validator.select`, checking that the answer is an index into
 * `values`. With a single value no call is made.
 */
export const selectRecord = (
  validator: Validator,
  key: Uint8Array,
  values: ReadonlyArray<Uint8Array>
): Effect.Effect<number, InvalidRecordError> => {
  if (values.length === 0) {
    return Effect.fail(new InvalidRecordError({ key, reason: "no values to select from" }))
  }
  if (values.length === 1) return Effect.succeed(0)
  return Effect.tryPromise({
    try: async () => validator.select(key, values),
    catch: (cause) => toInvalidRecord(key, cause)
  }).pipe(
    Effect.filterOrFail(
      (index) => Number.isInteger(index) && index >= 0 && index < values.length,
      (index) => new InvalidRecordError({ key, reason: `selector returned ${index} for ${values.length} values` })
    )
  )
}

const toInvalidRecord = (key: Uint8Array, cause: unknown): InvalidRecordError =>
  cause instanceof InvalidRecordError
    ? cause
    : new InvalidRecordError({ key, reason: cause instanceof Error ? cause.message : String(cause), cause })

const textDecoder = new TextDecoder()
const SLASH = 0x2f

/**
 * The namespace of a key `/ns/rest`: the bytes between the first and second
 * slash, or undefined when the key has no such shape.
 */
export const namespaceOf = (key: Uint8Array): string | undefined => {
  if (key.byteLength < 3 || key[0] !== SLASH) return undefined
  const end = key.indexOf(SLASH, 1)
  if (end <= 1) return undefined
  return textDecoder.decode(key.subarray(1, end))
}

/**
 * Routes each key to the validator registered for its namespace
 * (`/pk/...` to the public-key validator, `/ipns/...` to IPNS, `/myapp/...`
 * to yours). Keys of unknown namespaces are invalid.
 *
 * @example
 * ```ts
 * const validator = new NamespacedValidator()
 * validator.addValidator("myapp", new MyAppValidator())
 * ```
 */
export class NamespacedValidator implements Validator {
  private readonly validators = new Map<string, Validator>()

  constructor(initial: Readonly<Record<string, Validator>> = {}) {
    for (const [ns, validator] of Object.entries(initial)) this.addValidator(ns, validator)
  }

  /** Registers (or replaces) the validator of a namespace. */
  addValidator(namespace: string, validator: Validator): this {
    if (namespace.length === 0 || namespace.includes("/")) {
      throw new TypeError(`a namespace is a non-empty name without '/', got ${JSON.stringify(namespace)}`)
    }
    this.validators.set(namespace, validator)
    return this
  }

  /** Unregisters a namespace; returns whether it was registered. */
  removeValidator(namespace: string): boolean {
    return this.validators.delete(namespace)
  }

  /** The validator registered for a namespace. */
  getValidator(namespace: string): Validator | undefined {
    return this.validators.get(namespace)
  }

  /** The registered namespaces. */
  namespaces(): Array<string> {
    return [...this.validators.keys()]
  }

  validate(key: Uint8Array, value: Uint8Array): void | Promise<void> {
    return this.route(key).validate(key, value)
  }

  select(key: Uint8Array, values: ReadonlyArray<Uint8Array>): number | Promise<number> {
    return this.route(key).select(key, values)
  }

  private route(key: Uint8Array): Validator {
    const namespace = namespaceOf(key)
    if (namespace === undefined) {
      throw new InvalidRecordError({ key, reason: "key is not of the form /namespace/..." })
    }
    const validator = this.validators.get(namespace)
    if (validator === undefined) {
      throw new InvalidRecordError({ key, reason: `no validator for namespace '${namespace}'` })
    }
    return validator
  }
}
