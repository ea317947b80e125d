/**
 * Advanced: a custom record validator for `/myapp/` keys.
 *
 * A record is JSON `{ data, timestamp, signature }`. It is valid when it is
 * at most 24 hours old (and not from the future, past a minute of clock
 * skew) and its Ed25519 signature, by the one key the application trusts,
 * covers the record key, the data and the timestamp. Covering the key
 * stops a record signed for `/myapp/a` from being replayed under
 * `/myapp/b`. Of several valid records, the newest wins.
 *
 * Every node that stores `/myapp/` records must register the validator,
 * or it refuses them.
 *
 * @module
 */
import { type DHTOptions, IpfsDHT, NamespacedValidator, type ProviderStore, type Validator } from "@effect-kad/dht"
import type { PrivateKey, PublicKey } from "@libp2p/interface"
import type { Libp2p } from "libp2p"
import { fromString as fromBase64 } from "uint8arrays/from-string"
import { toString as toBase64 } from "uint8arrays/to-string"

/** Records older than this are refused (the guide's 24 hours). */
export const MAX_RECORD_AGE_MILLIS = 24 * 60 * 60 * 1000

/** Timestamps this far ahead of the local clock are still accepted. */
export const MAX_CLOCK_SKEW_MILLIS = 60 * 1000

/** The JSON stored under a `/myapp/` key. */
export interface MyAppRecord {
  readonly data: string
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number
  /** base64 Ed25519 signature of {@link signedPayload}. */
  readonly signature: string
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const keyBytes = (key: string | Uint8Array): Uint8Array => (typeof key === "string" ? utf8.encode(key) : key)

/** The bytes a publisher signs: key, data and timestamp, in a fixed JSON layout. */
export const signedPayload = (key: Uint8Array, data: string, timestamp: number): Uint8Array =>
  utf8.encode(JSON.stringify(["myapp-record-v1", toBase64(key, "base64"), data, timestamp]))

/** Builds a signed record for `key`. */
export const signMyAppRecord = async (
  publisher: PrivateKey,
  key: string | Uint8Array,
  data: string,
  timestamp: number = Date.now()
): Promise<Uint8Array> => {
  const signature = await publisher.sign(signedPayload(keyBytes(key), data, timestamp))
  const record: MyAppRecord = { data, timestamp, signature: toBase64(signature, "base64") }
  return utf8.encode(JSON.stringify(record))
}

/** Parses a record, or undefined when the value is not one. */
export const parseMyAppRecord = (value: Uint8Array): MyAppRecord | undefined => {
  let json: unknown
  try {
    json = JSON.parse(strictUtf8.decode(value))
  } catch {
    return undefined
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const { data, timestamp, signature } = json as Record<string, unknown>
  if (typeof data !== "string" || typeof signature !== "string") return undefined
  if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp)) return undefined
  return { data, timestamp, signature }
}

/** The guide's `CustomValidator`, with the signature check done for real. */
export class MyAppValidator implements Validator {
  constructor(
    private readonly publisher: PublicKey,
    private readonly now: () => number = Date.now
  ) {}

  async validate(key: Uint8Array, value: Uint8Array): Promise<void> {
    const record = parseMyAppRecord(value)
    if (record === undefined) throw new Error("Invalid record format")
    const age = this.now() - record.timestamp
    if (age > MAX_RECORD_AGE_MILLIS) throw new Error("Record too old")
    if (age < -MAX_CLOCK_SKEW_MILLIS) throw new Error("Record from the future")
    let signature: Uint8Array
    try {
      signature = fromBase64(record.signature, "base64")
    } catch {
      throw new Error("Invalid signature")
    }
    const genuine = await this.publisher.verify(signedPayload(key, record.data, record.timestamp), signature)
    if (!genuine) throw new Error("Invalid signature")
  }

  /** The newest record; values that do not parse are passed over, and the first of equal timestamps wins. */
  select(_key: Uint8Array, values: ReadonlyArray<Uint8Array>): number {
    let bestIndex = 0
    let latest = Number.NEGATIVE_INFINITY
    for (let i = 0; i < values.length; i++) {
      const record = parseMyAppRecord(values[i])
      if (record !== undefined && record.timestamp > latest) {
        latest = record.timestamp
        bestIndex = i
      }
    }
    return bestIndex
  }
}

/** The guide's registration: a `NamespacedValidator` with `myapp` added. */
export const myAppValidator = (publisher: PublicKey): NamespacedValidator => {
  const validator = new NamespacedValidator()
  validator.addValidator("myapp", new MyAppValidator(publisher))
  return validator
}

/** An `IpfsDHT` that stores `/myapp/` records; `start()` it before use. */
export const createDhtWithCustomValidator = (
  host: Libp2p,
  providerStore: ProviderStore,
  validator: Validator,
  options: DHTOptions = {}
): IpfsDHT => new IpfsDHT({ host, providerStore, validator, options })
