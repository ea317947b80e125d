/**
 * Peer IDs for benchmarks, made fast: a peer ID is the identity multihash of
 * a protobuf-encoded public key, so random Ed25519 public key bytes give a
 * well-formed peer ID without generating a key pair (no private key, no
 * signing). The bytes need not be a valid curve point: nothing here ever
 * verifies a signature with them.
 *
 * @module
 */
import { publicKeyFromRaw } from "@libp2p/crypto/keys"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromPublicKey } from "@libp2p/peer-id"

/**
 * `count` random Ed25519 peer IDs (distinct with overwhelming
 * probability); 100 000 take about 2.5 s, far less than generating as many
 * key pairs.
 *
 * @example
 * ```ts
 * const peers = fastPeerIds(10_000)
 * ```
 */
export const fastPeerIds = (count: number): Array<PeerId> => {
  const ids: Array<PeerId> = []
  const raw = new Uint8Array(32)
  for (let i = 0; i < count; i++) {
    crypto.getRandomValues(raw)
    ids.push(peerIdFromPublicKey(publicKeyFromRaw(raw.slice())))
  }
  return ids
}

/** `count` random 32-byte keys, used directly as Kad IDs (lookup targets). */
export const randomKadIds = (count: number): Array<Uint8Array> =>
  Array.from({ length: count }, () => crypto.getRandomValues(new Uint8Array(32)))
