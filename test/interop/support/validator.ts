/**
 * The record namespace the interop suite stores values under, with one
 * rule set expressed for both implementations: a value is `v<version>:<text>`
 * and the highest version wins. Both sides must agree on validity and on
 * the best record, or a value put by one would be dropped or replaced by
 * the other.
 *
 * @module
 */
import type { Validator } from "@effect-kad/dht"

/** The namespace: keys look like `/test/<name>`. */
export const TEST_NAMESPACE = "test"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A key in the test namespace. */
export const testKey = (name: string): Uint8Array => encoder.encode(`/${TEST_NAMESPACE}/${name}`)

/** A valid value of the given version. */
export const testValue = (version: number, text: string): Uint8Array => encoder.encode(`v${version}:${text}`)

/** The version of a value, or undefined when it is not of the form `v<digits>:…`. */
export const versionOf = (value: Uint8Array): number | undefined => {
  const match = /^v(\d{1,9}):/.exec(decoder.decode(value))
  return match === null ? undefined : Number(match[1])
}

/** The text of a value, for assertions. */
export const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : decoder.decode(value)

const validate = (key: Uint8Array, value: Uint8Array): void => {
  if (!decoder.decode(key).startsWith(`/${TEST_NAMESPACE}/`)) throw new Error("key outside the test namespace")
  if (versionOf(value) === undefined) throw new Error("value is not v<version>:<text>")
}

const select = (_key: Uint8Array, values: ReadonlyArray<Uint8Array>): number => {
  let best = 0
  for (let i = 1; i < values.length; i++) {
    // an invalid value never wins; among valid ones the first of the highest version does
    if ((versionOf(values[i]) ?? -1) > (versionOf(values[best]) ?? -1)) best = i
  }
  return best
}

/** The namespace validator in this project's `Validator` shape. */
export const testValidator: Validator = { validate, select }

/** The same rules as @libp2p/kad-dht `validators` and `selectors` maps. */
export const jsValidators = {
  validators: { [TEST_NAMESPACE]: (key: Uint8Array, value: Uint8Array) => validate(key, value) },
  selectors: { [TEST_NAMESPACE]: (key: Uint8Array, values: Array<Uint8Array>) => select(key, values) }
}
