/**
 * Errors of content routing over the network.
 *
 * @module
 */
import { printableKey } from "@effect-kad/core"
import * as Data from "effect/Data"

/**
 * An announcement reached no peer: after waiting for the routing table to
 * fill, the lookup found nobody, or every closest peer refused the
 * ADD_PROVIDER. The local record stays and the key is still reprovided on
 * schedule. The Effect API reports the reach as a count (0 here); the
 * Promise facade and the libp2p service fail with this error instead of
 * resolving as if the content could be found.
 *
 * @example
 * ```ts
 * try {
 *   await dht.provide(cid)
 * } catch (error) {
 *   if (error instanceof ProvideError) console.warn("nobody was told yet; retry after bootstrap()")
 * }
 * ```
 */
export class ProvideError extends Data.TaggedError("ProvideError")<{
  /** The DHT key (the CID's multihash). */
  readonly key: Uint8Array
  readonly operation: "provide" | "advertise"
}> {
  override get message(): string {
    return (
      `${this.operation} of ${printableKey(this.key)} reached no peer: the routing table is empty or ` +
      "every closest peer failed (kept locally, reprovided on schedule)"
    )
  }
}
