/**
 * Usage pattern: peer discovery, with retries and namespaces.
 *
 * @module
 */
import type { IpfsDHT, PeerInfo } from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import { Data, Duration, Effect, Either, Schedule } from "effect"

/** Settings of {@link PeerDiscoveryService.findPeerWithRetry}. */
export interface FindPeerRetryOptions {
  /** Lookups at most, the first included (default 3). */
  readonly maxAttempts?: number
  /** Pause after the first failed attempt; the n-th pause is n times this (default 1 s, as the guide). */
  readonly retryDelay?: Duration.DurationInput
}

/** Marks an attempt that completed without finding the peer, so the schedule retries it like a failure. */
class NotFoundYet extends Data.TaggedError("NotFoundYet") {}

/** The guide's `PeerDiscoveryService`. */
export class PeerDiscoveryService {
  constructor(readonly dht: IpfsDHT) {}

  /**
   * Looks a peer up until it is found, at most `maxAttempts` times, pausing
   * longer after each miss (a peer may take a while to appear in the
   * network). Resolves to null when every attempt missed; rejects with the
   * last error when the last attempt failed.
   */
  async findPeerWithRetry(peerId: PeerId, options: FindPeerRetryOptions = {}): Promise<PeerInfo | null> {
    const maxAttempts = options.maxAttempts ?? 3
    const attempt = Effect.tryPromise({
      try: (signal) => this.dht.findPeer(peerId, { signal }),
      catch: (error) => error
    }).pipe(Effect.flatMap((found) => (found === null ? Effect.fail(new NotFoundYet()) : Effect.succeed(found))))
    const outcome = await Effect.runPromise(
      attempt.pipe(
        Effect.retry({
          schedule: Schedule.linear(Duration.decode(options.retryDelay ?? "1 second")),
          times: maxAttempts - 1
        }),
        Effect.catchIf(
          (error) => error instanceof NotFoundYet,
          () => Effect.succeed(null)
        ),
        Effect.either
      )
    )
    if (Either.isLeft(outcome)) throw outcome.left
    return outcome.right
  }

  /** The peers advertising in a namespace (see `IpfsDHT.advertise`), as they are found. */
  async *discoverPeersInNamespace(namespace: string): AsyncGenerator<PeerInfo> {
    for await (const peer of this.dht.findPeers(namespace)) {
      yield peer
    }
  }
}
