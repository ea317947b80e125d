/**
 * Lookup keys that land in a chosen bucket, for the bucket refresh.
 *
 * A FIND_NODE request carries key bytes that the server hashes with sha256,
 * so a refresh of bucket `cpl` needs key bytes whose sha256 shares exactly
 * `cpl` leading bits with the local Kad ID. sha256 cannot be steered, so
 * the key is found by sampling: each random key hits with probability
 * `2^-(cpl + 1)`, which is about 65 536 hashes (≈ 0.1 s) for the deepest
 * refreshed bucket, 15. go-libp2p-kbucket caps refresh at the same depth
 * and reaches it with a precomputed table of 2^16 seeds instead; sampling
 * costs a little CPU per refresh cycle and no 128 KiB table.
 *
 * The keys are sha2-256 multihashes over random digests: well-formed
 * (RSA-style) peer IDs, as go sends, so a server that parses FIND_NODE keys
 * as peer IDs accepts them.
 *
 * @module
 */
import { commonPrefixLength, type KadId, KEYSPACE_BITS, kadIdOfKey } from "@effect-kad/core"
import * as Effect from "effect/Effect"

/**
 * The deepest bucket a refresh looks up, as go-libp2p-kbucket's
 * `maxCplForRefresh`. Deeper buckets hold a handful of peers at most, which
 * the self-lookup already finds.
 */
export const MAX_CPL_FOR_REFRESH = 15

/** Multihash code and digest length of sha2-256. */
const SHA2_256 = 0x12
const DIGEST_BYTES = 32

/** Random digests drawn per `getRandomValues` call: 64 KiB, the most it returns at once. */
const BATCH = 2048

/**
 * Samples up to `attempts` random keys and returns the first whose Kad ID
 * shares exactly `cpl` leading bits with `local`, or `undefined` when none
 * did. Synchronous; {@link randomKeyForCpl} wraps it so long searches yield
 * to other fibers.
 */
export const sampleKeyForCpl = (local: KadId, cpl: number, attempts: number): Uint8Array | undefined => {
  if (!Number.isInteger(cpl) || cpl < 0 || cpl >= KEYSPACE_BITS) {
    throw new RangeError(`common prefix length must be an integer in [0, 255], got ${cpl}`)
  }
  const pool = new Uint8Array(DIGEST_BYTES * BATCH)
  const key = new Uint8Array(2 + DIGEST_BYTES)
  key[0] = SHA2_256
  key[1] = DIGEST_BYTES
  for (let i = 0; i < attempts; i++) {
    const slot = i % BATCH
    if (slot === 0) crypto.getRandomValues(pool)
    key.set(pool.subarray(slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES), 2)
    if (commonPrefixLength(kadIdOfKey(key), local) === cpl) return key
  }
  return undefined
}

/**
 * Random FIND_NODE key bytes whose Kad ID falls in bucket `cpl` of the
 * table centred on `local`: the target of one bucket refresh. Expected cost
 * `2^(cpl + 1)` sha256 evaluations, so `cpl` is limited to
 * {@link MAX_CPL_FOR_REFRESH}; a larger one is a defect.
 *
 * @example
 * ```ts
 * const key = yield* randomKeyForCpl(table.localKadId, 3)
 * commonPrefixLength(kadIdOfKey(key), table.localKadId) // 3
 * ```
 */
export const randomKeyForCpl = (local: KadId, cpl: number): Effect.Effect<Uint8Array> =>
  Effect.suspend(() => {
    if (!Number.isInteger(cpl) || cpl < 0 || cpl > MAX_CPL_FOR_REFRESH) {
      return Effect.dieMessage(`bucket refresh keys exist for cpl 0..${MAX_CPL_FOR_REFRESH}, got ${cpl}`)
    }
    // Searched in slices so a deep bucket's search does not hold the thread for its whole duration.
    const search: Effect.Effect<Uint8Array> = Effect.suspend(() => {
      const key = sampleKeyForCpl(local, cpl, BATCH * 4)
      return key === undefined ? Effect.zipRight(Effect.yieldNow(), search) : Effect.succeed(key)
    })
    return search
  })
