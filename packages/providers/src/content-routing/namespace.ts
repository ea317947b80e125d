/**
 * The CID a discovery namespace is advertised under.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"

const utf8 = new TextEncoder()

/**
 * The CID of a discovery namespace: CIDv1 with the raw codec over the
 * sha256 multihash of the name's UTF-8 bytes, the mapping go-libp2p's and
 * js-libp2p's routing discovery use, so peers of every implementation meet
 * at the same provider key.
 *
 * @example
 * ```ts
 * const cid = yield* namespaceCid("my-app/chat")
 * cid.toString() // "bafkrei…"
 * ```
 */
export const namespaceCid = (namespace: string): Effect.Effect<CID> =>
  // sha256 is synchronous in Node and a Promise in browsers; await covers both
  Effect.promise(async () => CID.createV1(raw.code, await sha256.digest(utf8.encode(namespace))))
