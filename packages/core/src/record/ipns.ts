/**
 * The `/ipns/` namespace: signed, expiring, versioned name records as the
 * IPNS Record specification defines them. Only V2 signatures (over the
 * DAG-CBOR `data` field) are trusted; legacy V1 fields are accepted when they
 * agree with the signed data and are otherwise grounds for rejection.
 *
 * @module
 */
import { publicKeyFromMultihash, publicKeyFromProtobuf, publicKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PeerId, PrivateKey, PublicKey } from "@libp2p/interface"
import { peerIdFromPublicKey } from "@libp2p/peer-id"
import * as cborg from "cborg"
import * as Either from "effect/Either"
import { CID } from "multiformats/cid"
import * as Digest from "multiformats/hashes/digest"
import { identity } from "multiformats/hashes/identity"
import { concat as uint8ArrayConcat } from "uint8arrays/concat"
import { equals as uint8ArrayEquals } from "uint8arrays/equals"
import { fromString as uint8ArrayFromString } from "uint8arrays/from-string"
import { InvalidRecordError } from "../errors.js"
import { IpnsEntry } from "./ipns-entry.generated.js"
import type { Validator } from "./validator.js"

/** The bytes every IPNS record key starts with. */
export const IPNS_PREFIX: Uint8Array = uint8ArrayFromString("/ipns/")

/** Largest serialized record accepted or created: 10 KiB, the size every implementation must support. */
export const MAX_IPNS_RECORD_SIZE = 10 * 1024

/** TTL written when the caller gives none: 5 minutes in nanoseconds, the specification's suggestion. */
export const DEFAULT_IPNS_TTL_NANOS = 300_000_000_000n

const MAX_UINT64 = 2n ** 64n - 1n
const NANOS_PER_MILLI = 1_000_000n
const SIGNATURE_V2_PREFIX = uint8ArrayFromString("ipns-signature:")
const EMPTY = new Uint8Array(0)

/**
 * The DHT key under which the IPNS record of `peerId` is stored: `/ipns/`
 * followed by the binary multihash of the peer ID.
 *
 * @example
 * ```ts
 * const key = ipnsKey(peerIdFromPrivateKey(privateKey))
 * ```
 */
export const ipnsKey = (peerId: PeerId): Uint8Array => uint8ArrayConcat([IPNS_PREFIX, peerId.toMultihash().bytes])

/** A structurally sound IPNS record, read from its signed CBOR `data`. Not yet proven authentic. */
export interface IpnsRecord {
  /** `data[Value]`: the content path the name points to, as UTF-8 bytes (`/ipfs/<cid>`, `/ipns/<name>`). */
  readonly value: Uint8Array
  /** `data[Validity]`: the RFC 3339 end of life, as written by the publisher. */
  readonly validity: string
  /** The end of life in nanoseconds since the Unix epoch. */
  readonly validUntilNanos: bigint
  /** `data[Sequence]`: the version; higher replaces lower. */
  readonly sequence: bigint
  /** `data[TTL]`: how long resolvers may cache the record, in nanoseconds. */
  readonly ttl: bigint
  /** The signer's protobuf public key, when the record carries one. */
  readonly pubKey?: Uint8Array
  /** The signature over `"ipns-signature:"` followed by {@link IpnsRecord.data}. */
  readonly signatureV2: Uint8Array
  /** The raw signed DAG-CBOR bytes. */
  readonly data: Uint8Array
}

// DAG-CBOR's decoding rules: canonical integers, no duplicate or non-string
// keys, none of the CBOR values the IPLD data model lacks. Tag 42 is a CID
// (publishers may add links under custom keys).
const cborTags: Array<cborg.TagDecoder> = []
cborTags[42] = (bytes: unknown) => {
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0) throw new Error("invalid CID in DAG-CBOR")
  return CID.decode(bytes.subarray(1))
}
const dagCborDecodeOptions: cborg.DecodeOptions = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: true,
  useMaps: false,
  tags: cborTags
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

/**
 * Nanoseconds since the Unix epoch of an RFC 3339 time, or undefined when
 * the text is not one. Keeps all nine fractional digits Go writes, which
 * `Date.parse` would drop.
 */
const parseRfc3339Nanos = (text: string): bigint | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number)
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return undefined
  const date = new Date(0)
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  date.setUTCFullYear(year, month - 1, day)
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined
  date.setUTCHours(hour, minute, second, 0)
  let nanos = BigInt(date.getTime()) * NANOS_PER_MILLI + BigInt((m[7] ?? "").padEnd(9, "0").slice(0, 9))
  if (m[8] !== undefined) {
    const offsetHours = Number(m[9])
    const offsetMinutes = Number(m[10])
    if (offsetHours > 23 || offsetMinutes > 59) return undefined
    const offset = BigInt(offsetHours * 60 + offsetMinutes) * 60_000_000_000n
    nanos = m[8] === "+" ? nanos - offset : nanos + offset
  }
  return nanos
}

/** RFC 3339 in UTC with nine fractional digits, the precision the specification shows. */
const formatRfc3339 = (date: Date): string => {
  const year = date.getUTCFullYear()
  if (!Number.isFinite(date.getTime()) || year < 0 || year > 9999) {
    throw new RangeError(`an IPNS validity must be between years 0000 and 9999, got ${date.getTime()}`)
  }
  return `${date.toISOString().slice(0, -1)}000000Z`
}

const asUint64 = (value: unknown): bigint | undefined => {
  if (typeof value === "bigint") return value >= 0n && value <= MAX_UINT64 ? value : undefined
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  return undefined
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Every structural check of the specification's verification steps; the reason of the first failure otherwise. */
const parse = (bytes: Uint8Array): IpnsRecord | string => {
  if (bytes.byteLength > MAX_IPNS_RECORD_SIZE) {
    return `record too large: ${bytes.byteLength} bytes, the limit is ${MAX_IPNS_RECORD_SIZE}`
  }
  let entry: IpnsEntry
  try {
    entry = IpnsEntry.decode(bytes)
  } catch (cause) {
    return `not an IPNS record protobuf: ${cause instanceof Error ? cause.message : String(cause)}`
  }
  if (entry.signatureV2 == null || entry.signatureV2.byteLength === 0) return "record has no signatureV2"
  if (entry.data == null || entry.data.byteLength === 0) return "record has no data"

  let data: unknown
  try {
    data = cborg.decode(entry.data, dagCborDecodeOptions)
  } catch (cause) {
    return `data is not DAG-CBOR: ${cause instanceof Error ? cause.message : String(cause)}`
  }
  if (typeof data !== "object" || data === null || Array.isArray(data) || data instanceof Uint8Array) {
    return "data is not a CBOR map"
  }
  const fields = data as Record<string, unknown>
  const value = fields.Value
  const validityBytes = fields.Validity
  if (!(value instanceof Uint8Array)) return "data[Value] is missing or not bytes"
  if (!(validityBytes instanceof Uint8Array)) return "data[Validity] is missing or not bytes"
  if (fields.ValidityType !== 0) return `unsupported validity type ${String(fields.ValidityType)}`
  const sequence = asUint64(fields.Sequence)
  if (sequence === undefined) return "data[Sequence] is missing or not an unsigned 64-bit integer"
  const ttl = asUint64(fields.TTL)
  if (ttl === undefined) return "data[TTL] is missing or not an unsigned 64-bit integer"

  let validity: string
  try {
    validity = utf8.decode(validityBytes)
  } catch {
    return "data[Validity] is not text"
  }
  const validUntilNanos = parseRfc3339Nanos(validity)
  if (validUntilNanos === undefined) return `data[Validity] is not an RFC 3339 time: ${JSON.stringify(validity)}`

  // Legacy fields are unsigned by V2, so a record whose V1 copy disagrees with
  // its signed data could mislead V1 readers: refuse it. Absent fields read as
  // their protobuf defaults.
  if (entry.value != null || entry.signatureV1 != null) {
    if (!uint8ArrayEquals(entry.value ?? EMPTY, value)) return "V1 value does not match data[Value]"
    if (!uint8ArrayEquals(entry.validity ?? EMPTY, validityBytes)) return "V1 validity does not match data[Validity]"
    if ((entry.validityType ?? IpnsEntry.ValidityType.EOL) !== IpnsEntry.ValidityType.EOL) {
      return "V1 validityType does not match data[ValidityType]"
    }
    if ((entry.sequence ?? 0n) !== sequence) return "V1 sequence does not match data[Sequence]"
    if ((entry.ttl ?? 0n) !== ttl) return "V1 ttl does not match data[TTL]"
  }

  const record: IpnsRecord = {
    value,
    validity,
    validUntilNanos,
    sequence,
    ttl,
    signatureV2: entry.signatureV2,
    data: entry.data,
    ...(entry.pubKey != null ? { pubKey: entry.pubKey } : {})
  }
  return record
}

/**
 * Reads an IPNS record: size limit, protobuf, DAG-CBOR `data` with all five
 * fields, RFC 3339 validity, and agreement of any legacy V1 fields. It does
 * not check the signature, the name or the expiry; {@link ipnsValidator}
 * does. `key` only labels the error.
 *
 * @example
 * ```ts
 * const record = Either.getOrThrow(decodeIpnsRecord(key, bytes))
 * const path = new TextDecoder().decode(record.value)
 * ```
 */
export const decodeIpnsRecord = (key: Uint8Array, bytes: Uint8Array): Either.Either<IpnsRecord, InvalidRecordError> => {
  const parsed = parse(bytes)
  return typeof parsed === "string"
    ? Either.left(new InvalidRecordError({ key, reason: parsed }))
    : Either.right(parsed)
}

/** The public key that must have signed records of an IPNS name. */
const signerOf = (key: Uint8Array, record: IpnsRecord): PublicKey => {
  if (
    key.byteLength <= IPNS_PREFIX.byteLength ||
    !uint8ArrayEquals(key.subarray(0, IPNS_PREFIX.byteLength), IPNS_PREFIX)
  ) {
    throw new InvalidRecordError({ key, reason: "an IPNS record key starts with /ipns/ and a multihash" })
  }
  const name = key.subarray(IPNS_PREFIX.byteLength)
  let publicKey: PublicKey
  if (record.pubKey !== undefined) {
    try {
      publicKey = publicKeyFromProtobuf(record.pubKey)
    } catch (cause) {
      throw new InvalidRecordError({ key, reason: "pubKey is not a protobuf-encoded public key", cause })
    }
  } else {
    let digest: ReturnType<typeof Digest.decode>
    try {
      digest = Digest.decode(name)
    } catch (cause) {
      throw new InvalidRecordError({ key, reason: "the name is not a multihash", cause })
    }
    if (digest.code !== identity.code) {
      throw new InvalidRecordError({ key, reason: "record has no pubKey and the name does not inline its public key" })
    }
    try {
      publicKey = publicKeyFromMultihash(digest as Digest.Digest<0x00, number>)
    } catch (cause) {
      throw new InvalidRecordError({ key, reason: "the name does not inline a valid public key", cause })
    }
  }
  let derived: Uint8Array
  try {
    derived = peerIdFromPublicKey(publicKey).toMultihash().bytes
  } catch (cause) {
    throw new InvalidRecordError({ key, reason: `cannot derive a peer ID from a ${publicKey.type} key`, cause })
  }
  if (!uint8ArrayEquals(derived, name)) {
    throw new InvalidRecordError({ key, reason: "the signing public key does not match the name" })
  }
  return publicKey
}

/** Options of {@link makeIpnsValidator}. */
export interface IpnsValidatorOptions {
  /** The current time in milliseconds since the Unix epoch; `Date.now` unless given (tests pass a fixed clock). */
  readonly now?: () => number
}

/**
 * Builds an IPNS validator.
 *
 * `validate` accepts a value under `/ipns/<multihash>` when it is a V2 IPNS
 * record of at most 10 KiB, signed over `"ipns-signature:" + data` by the key
 * the name stands for (the record's `pubKey`, else the key inlined in an
 * identity-multihash name), whose legacy V1 fields (if any) agree with
 * `data`, and whose EOL validity is not in the past (reason
 * `"record expired"`).
 *
 * `select` prefers the highest sequence, then the later validity, then the
 * lower index; values that do not decode are passed over.
 *
 * @example
 * ```ts
 * const validator = makeIpnsValidator({ now: () => Date.parse("2030-01-01T00:00:00Z") })
 * await validator.validate(ipnsKey(peerId), recordBytes)
 * ```
 */
export const makeIpnsValidator = (options: IpnsValidatorOptions = {}): Validator => {
  const now = options.now ?? Date.now
  return {
    async validate(key: Uint8Array, value: Uint8Array): Promise<void> {
      const record = parse(value)
      if (typeof record === "string") throw new InvalidRecordError({ key, reason: record })
      const publicKey = signerOf(key, record)
      let verified: boolean
      try {
        verified = await publicKey.verify(uint8ArrayConcat([SIGNATURE_V2_PREFIX, record.data]), record.signatureV2)
      } catch (cause) {
        throw new InvalidRecordError({ key, reason: "signatureV2 does not verify", cause })
      }
      if (!verified) throw new InvalidRecordError({ key, reason: "signatureV2 does not verify" })
      if (record.validUntilNanos < BigInt(Math.floor(now())) * NANOS_PER_MILLI) {
        throw new InvalidRecordError({ key, reason: "record expired" })
      }
    },
    select(key: Uint8Array, values: ReadonlyArray<Uint8Array>): number {
      let best = -1
      let bestSequence = 0n
      let bestValidity = 0n
      for (let i = 0; i < values.length; i++) {
        const parsed = parse(values[i])
        if (typeof parsed === "string") continue
        const { sequence, validUntilNanos } = parsed
        if (best === -1 || sequence > bestSequence || (sequence === bestSequence && validUntilNanos > bestValidity)) {
          best = i
          bestSequence = sequence
          bestValidity = validUntilNanos
        }
      }
      if (best === -1) throw new InvalidRecordError({ key, reason: "none of the values is an IPNS record" })
      return best
    }
  }
}

/** The IPNS validator on the system clock; what {@link defaultValidator} registers for `ipns`. */
export const ipnsValidator: Validator = makeIpnsValidator()

const toUint64 = (what: string, value: bigint | number): bigint => {
  const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n
  if (big < 0n || big > MAX_UINT64) throw new RangeError(`${what} must be an unsigned 64-bit integer, got ${value}`)
  return big
}

/**
 * Creates and signs a V2 IPNS record that expires at `expiration`, returning
 * the protobuf bytes to store under {@link ipnsKey}. The public key is
 * embedded only when the peer ID cannot inline it (RSA).
 *
 * `value` is a content path (`/ipfs/<cid>`, `/ipns/<name>`); bytes are taken
 * as its UTF-8 encoding.
 *
 * @example
 * ```ts
 * const bytes = await createIpnsRecordWithExpiration(privateKey, "/ipfs/bafy…", 1n, new Date("2030-01-01T00:00:00Z"))
 * ```
 */
export const createIpnsRecordWithExpiration = async (
  privateKey: PrivateKey,
  value: string | Uint8Array,
  sequence: bigint | number,
  expiration: Date,
  ttlNanos: bigint | number = DEFAULT_IPNS_TTL_NANOS
): Promise<Uint8Array> => {
  if (typeof value === "string" && !(value.startsWith("/") && value.length > 1)) {
    throw new TypeError(`an IPNS value is a content path starting with '/', got ${JSON.stringify(value)}`)
  }
  const valueBytes = typeof value === "string" ? uint8ArrayFromString(value) : value
  if (valueBytes.byteLength === 0) throw new TypeError("an IPNS value cannot be empty")
  // cborg's default map ordering is length-first then bytewise, which is what
  // DAG-CBOR requires for the signed bytes to be canonical.
  const data = cborg.encode({
    Value: valueBytes,
    Validity: uint8ArrayFromString(formatRfc3339(expiration)),
    ValidityType: 0,
    Sequence: toUint64("sequence", sequence),
    TTL: toUint64("ttlNanos", ttlNanos)
  })
  const signatureV2 = await privateKey.sign(uint8ArrayConcat([SIGNATURE_V2_PREFIX, data]))
  const inlined = peerIdFromPublicKey(privateKey.publicKey).toMultihash().code === identity.code
  const bytes = IpnsEntry.encode({
    signatureV2: signatureV2 as Uint8Array<ArrayBuffer>,
    data: data as Uint8Array<ArrayBuffer>,
    ...(inlined ? {} : { pubKey: publicKeyToProtobuf(privateKey.publicKey) as Uint8Array<ArrayBuffer> })
  })
  if (bytes.byteLength > MAX_IPNS_RECORD_SIZE) {
    throw new RangeError(`the IPNS record is ${bytes.byteLength} bytes, the limit is ${MAX_IPNS_RECORD_SIZE}`)
  }
  return bytes
}

/**
 * Creates and signs a V2 IPNS record valid for `lifetimeMillis` from now
 * (DHT nodes keep records for at most 48 hours, so longer lifetimes only
 * matter for other transports). `ttlNanos` defaults to 5 minutes.
 *
 * @example
 * ```ts
 * const key = ipnsKey(peerIdFromPrivateKey(privateKey))
 * const value = await createIpnsRecord(privateKey, `/ipfs/${cid}`, 1n, 24 * 60 * 60 * 1000)
 * await ipnsValidator.validate(key, value)
 * ```
 */
export const createIpnsRecord = (
  privateKey: PrivateKey,
  value: string | Uint8Array,
  sequence: bigint | number,
  lifetimeMillis: number,
  ttlNanos?: bigint | number
): Promise<Uint8Array> => {
  if (!Number.isFinite(lifetimeMillis) || lifetimeMillis < 0) {
    return Promise.reject(new RangeError(`lifetimeMillis must be a finite non-negative number, got ${lifetimeMillis}`))
  }
  return createIpnsRecordWithExpiration(privateKey, value, sequence, new Date(Date.now() + lifetimeMillis), ttlNanos)
}
