/**
 * Shared helpers of the value storage tests: a `/v/` namespace whose values
 * start with a sequence number (higher wins), and simulated-node helpers.
 */
import {
  compareDistance,
  kadIdOfKey,
  kadIdOfPeer,
  makeRecord,
  NamespacedValidator,
  type Validator
} from "@effect-kad/core"
import type { SimulatedNode } from "@effect-kad/routing"
import { Clock, Effect, Option } from "effect"
import { RecordStore, type RecordValidator, type Values } from "../src/values/index.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const bytes = (text: string): Uint8Array => encoder.encode(text)
export const text = (value: Uint8Array): string => decoder.decode(value)

/** The sequence number a `/v/` value starts with, or undefined when it has none. */
export const sequenceOf = (value: Uint8Array): number | undefined => {
  const match = /^(\d+):/.exec(decoder.decode(value))
  return match === null ? undefined : Number(match[1])
}

/** `/v/` values look like `<sequence>:<payload>`; the highest sequence wins, the first on ties. */
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

/** A validator knowing only the `/v/` namespace. */
export const testValidator = (): NamespacedValidator => new NamespacedValidator({ v: sequenceValidator })

/** A key in the `/v/` namespace. */
export const vKey = (name: string): Uint8Array => bytes(`/v/${name}`)

export type ValueNode = SimulatedNode<RecordValidator | RecordStore | Values>

/** The `n` nodes closest to `key` in the keyspace, closest first. */
export const closestNodes = <N extends { readonly id: SimulatedNode<never>["id"] }>(
  nodes: ReadonlyArray<N>,
  key: Uint8Array,
  n: number
): Array<N> => {
  const target = kadIdOfKey(key)
  return [...nodes].sort((a, b) => compareDistance(kadIdOfPeer(a.id), kadIdOfPeer(b.id), target)).slice(0, n)
}

/** Writes a record straight into a node's store, bypassing validation. */
export const plant = (node: ValueNode, key: Uint8Array, value: Uint8Array) =>
  node.run(
    Effect.gen(function* () {
      const store = yield* RecordStore
      const now = yield* Clock.currentTimeMillis
      yield* store.put(makeRecord(key, value, new Date(now)))
    })
  )

/** The value a node stores under `key`, as text, or undefined. */
export const storedText = (node: ValueNode, key: Uint8Array) =>
  node.run(
    Effect.map(
      Effect.flatMap(RecordStore, (store) => store.get(key)),
      (record) => Option.getOrUndefined(Option.map(record, (r) => text(r.value)))
    )
  )
