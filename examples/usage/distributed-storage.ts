/**
 * Usage pattern: distributed key-value storage.
 *
 * Values go under `/storage/<key>`. Each value is stored with the time it
 * was written, and the `storage` validator prefers the newest, so every
 * node agrees on which of two versions is current and `searchValue` ends
 * with the latest one. Register {@link storageValidator} under `storage` on
 * every node of the application, or other nodes refuse the records.
 *
 * @module
 */
import type { IpfsDHT, Validator } from "@effect-kad/dht"

/** What is stored under a `/storage/` key. */
export interface StoredText {
  readonly value: string
  /** Milliseconds since the Unix epoch at which the value was written. */
  readonly storedAt: number
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** Decodes a stored value, or undefined when it is not one. */
export const decodeStoredText = (bytes: Uint8Array): StoredText | undefined => {
  let json: unknown
  try {
    json = JSON.parse(strictUtf8.decode(bytes))
  } catch {
    return undefined
  }
  if (typeof json !== "object" || json === null) return undefined
  const { value, storedAt } = json as Record<string, unknown>
  if (typeof value !== "string" || typeof storedAt !== "number" || !Number.isFinite(storedAt)) return undefined
  return { value, storedAt }
}

/** Encodes a value with the time it is written. */
export const encodeStoredText = (value: string, storedAt: number = Date.now()): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ value, storedAt } satisfies StoredText))

const newer = (a: StoredText, b: StoredText): boolean =>
  a.storedAt !== b.storedAt ? a.storedAt > b.storedAt : a.value > b.value

/** Accepts {@link StoredText} JSON; of several, the newest (ties: the greater text, so the choice is the same everywhere). */
export const storageValidator: Validator = {
  validate: (_key, value) => {
    if (decodeStoredText(value) === undefined) throw new Error("not a stored text value")
  },
  select: (_key, values) => {
    let best = 0
    let bestValue = decodeStoredText(values[0])
    for (let i = 1; i < values.length; i++) {
      const candidate = decodeStoredText(values[i])
      if (candidate !== undefined && (bestValue === undefined || newer(candidate, bestValue))) {
        best = i
        bestValue = candidate
      }
    }
    return best
  }
}

/** The guide's `DistributedStorage`. */
export class DistributedStorage {
  constructor(readonly dht: IpfsDHT) {}

  private keyOf(key: string): string {
    return `/storage/${key}`
  }

  /** Stores `value` under `key`, locally and on the peers closest to the key. */
  async store(key: string, value: string): Promise<void> {
    await this.dht.putValue(this.keyOf(key), encodeStoredText(value))
  }

  /** The current value of `key`, or null. */
  async retrieve(key: string): Promise<string | null> {
    const bytes = await this.dht.getValue(this.keyOf(key))
    return bytes === null ? null : (decodeStoredText(bytes)?.value ?? null)
  }

  /**
   * Follows every better value as the lookup finds it and keeps the last,
   * which is the best by the validator: the most recently stored one.
   */
  async retrieveBest(key: string): Promise<string | null> {
    const values: Array<string> = []
    for await (const bytes of this.dht.searchValue(this.keyOf(key))) {
      const decoded = decodeStoredText(bytes)
      if (decoded !== undefined) values.push(decoded.value)
    }
    return values.length > 0 ? values[values.length - 1] : null
  }
}
