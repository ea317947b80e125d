/**
 * The `/cli/` record namespace: what `kad-dht put` stores and `kad-dht get`
 * reads, and the validator every CLI node registers for it.
 *
 * A `/cli/` value is UTF-8 JSON `{"value": "<text>", "t": <ms since epoch>}`
 * written by `put`. The validator is deliberately permissive so scripts can
 * use it as a scratch namespace: any value of at most
 * {@link MAX_CLI_VALUE_BYTES} bytes is valid, JSON or not. Among several
 * values, the one with the largest `t` wins; values without a readable `t`
 * lose to any that has one, and ties go to the earliest in the list, so
 * the choice is the same whatever node makes it.
 *
 * @module
 */

import { defaultValidator, type NamespacedValidator, type Validator } from "@effect-kad/core"
import { toString as uint8ArrayToString } from "uint8arrays/to-string"

/** The namespace `put` and `get` use for keys that name no registered namespace. */
export const CLI_NAMESPACE = "cli"

/** Largest value the `/cli/` validator accepts: 10 KiB. */
export const MAX_CLI_VALUE_BYTES = 10 * 1024

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder("utf-8", { fatal: true })

/** A decoded `/cli/` value. */
export interface CliValue {
  readonly value: string
  /** Milliseconds since the epoch when it was written. */
  readonly t: number
}

/** Reads a `/cli/` value, or undefined when the bytes are not one. */
export const decodeCliValue = (bytes: Uint8Array): CliValue | undefined => {
  try {
    const parsed: unknown = JSON.parse(strictDecoder.decode(bytes))
    if (typeof parsed !== "object" || parsed === null) return undefined
    const { value, t } = parsed as { value?: unknown; t?: unknown }
    if (typeof value !== "string" || typeof t !== "number" || !Number.isFinite(t)) return undefined
    return { value, t }
  } catch {
    return undefined
  }
}

/**
 * Encodes a `/cli/` value.
 *
 * @example
 * ```ts
 * encodeCliValue("hello", Date.now()) // bytes of {"value":"hello","t":1730000000000}
 * ```
 */
export const encodeCliValue = (value: string, t: number): Uint8Array => encoder.encode(JSON.stringify({ value, t }))

/** The validator of the `/cli/` namespace: size-checked, newest `t` wins. */
export const cliValidator: Validator = {
  validate: (_key, value) => {
    if (value.byteLength > MAX_CLI_VALUE_BYTES) {
      throw new Error(`a /cli/ value holds at most ${MAX_CLI_VALUE_BYTES} bytes, got ${value.byteLength}`)
    }
  },
  select: (_key, values) => {
    let best = 0
    let bestT = Number.NEGATIVE_INFINITY
    values.forEach((bytes, index) => {
      const t = decodeCliValue(bytes)?.t ?? Number.NEGATIVE_INFINITY
      if (t > bestT) {
        best = index
        bestT = t
      }
    })
    return best
  }
}

/**
 * The validator of every CLI node: the DHT's defaults (`/pk`, `/ipns`)
 * plus `/cli/`.
 */
export const cliNodeValidator = (): NamespacedValidator => defaultValidator().addValidator(CLI_NAMESPACE, cliValidator)

/**
 * The DHT key for a key given on the command line: unchanged when it
 * already starts with `/<registered namespace>/`, else put under `/cli/`.
 *
 * @example
 * ```ts
 * dhtKeyFor("greeting", ["cli", "pk", "ipns"]) // "/cli/greeting"
 * dhtKeyFor("/ipns/k51…", ["cli", "pk", "ipns"]) // "/ipns/k51…"
 * ```
 */
export const dhtKeyFor = (key: string, namespaces: ReadonlyArray<string>): string => {
  for (const namespace of namespaces) {
    if (key.startsWith(`/${namespace}/`) && key.length > namespace.length + 2) return key
  }
  return `/${CLI_NAMESPACE}/${key.replace(/^\/+/, "")}`
}

/** How a value's bytes are shown: as text when they are UTF-8, else as base64. */
export interface ShownValue {
  readonly value: string
  readonly encoding: "utf8" | "base64"
  /** When the value was written, for `/cli/` values. */
  readonly writtenAt?: string
}

/** Shows a fetched value: `/cli/` values unwrapped, other UTF-8 as is, anything else as base64. */
export const showValue = (key: string, bytes: Uint8Array): ShownValue => {
  if (key.startsWith(`/${CLI_NAMESPACE}/`)) {
    const decoded = decodeCliValue(bytes)
    if (decoded !== undefined) {
      return { value: decoded.value, encoding: "utf8", writtenAt: new Date(decoded.t).toISOString() }
    }
  }
  try {
    return { value: strictDecoder.decode(bytes), encoding: "utf8" }
  } catch {
    return { value: uint8ArrayToString(bytes, "base64pad"), encoding: "base64" }
  }
}
