/**
 * The `/pk/` namespace: a peer's public key stored under the multihash of
 * that key, so anyone can fetch the key of a peer whose ID does not inline
 * it (RSA) and check it without trusting the peer that served it.
 *
 * @module
 */
import { publicKeyFromProtobuf } from "@libp2p/crypto/keys"
import type { PeerId, PublicKey } from "@libp2p/interface"
import { peerIdFromPublicKey } from "@libp2p/peer-id"
import { concat as uint8ArrayConcat } from "uint8arrays/concat"
import { equals as uint8ArrayEquals } from "uint8arrays/equals"
import { fromString as uint8ArrayFromString } from "uint8arrays/from-string"
import { InvalidRecordError } from "../errors.js"
import type { Validator } from "./validator.js"

/** The bytes every public-key record key starts with. */
export const PK_PREFIX: Uint8Array = uint8ArrayFromString("/pk/")

/**
 * The DHT key under which the public key of `peerId` is stored:
 * `/pk/` followed by the binary multihash of the peer ID.
 *
 * @example
 * ```ts
 * const key = pkKey(peerIdFromPrivateKey(privateKey))
 * const value = publicKeyToProtobuf(privateKey.publicKey)
 * ```
 */
export const pkKey = (peerId: PeerId): Uint8Array => uint8ArrayConcat([PK_PREFIX, peerId.toMultihash().bytes])

const hasPrefix = (key: Uint8Array, prefix: Uint8Array): boolean =>
  key.byteLength > prefix.byteLength && uint8ArrayEquals(key.subarray(0, prefix.byteLength), prefix)

/**
 * Accepts a value under `/pk/<multihash>` only when it is a protobuf public
 * key whose peer ID (identity multihash for keys small enough to inline,
 * sha2-256 otherwise) has exactly that multihash.
 *
 * Every valid value for a key encodes the same key, so `select` has nothing
 * to choose and returns the first.
 *
 * @example
 * ```ts
 * await publicKeyValidator.validate(pkKey(peerId), publicKeyToProtobuf(publicKey))
 * ```
 */
export const publicKeyValidator: Validator = {
  validate(key: Uint8Array, value: Uint8Array): void {
    if (!hasPrefix(key, PK_PREFIX)) {
      throw new InvalidRecordError({ key, reason: "a public-key record key starts with /pk/ and a multihash" })
    }
    let publicKey: PublicKey
    try {
      publicKey = publicKeyFromProtobuf(value)
    } catch (cause) {
      throw new InvalidRecordError({ key, reason: "value is not a protobuf-encoded public key", cause })
    }
    let derived: Uint8Array
    try {
      derived = peerIdFromPublicKey(publicKey).toMultihash().bytes
    } catch (cause) {
      throw new InvalidRecordError({ key, reason: `cannot derive a peer ID from a ${publicKey.type} key`, cause })
    }
    if (!uint8ArrayEquals(key.subarray(PK_PREFIX.byteLength), derived)) {
      throw new InvalidRecordError({ key, reason: "public key does not match the peer ID in the key" })
    }
  },
  select(): number {
    return 0
  }
}
