/**
 * Settings of the libp2p `Network`, their defaults and their
 * validation.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { InvalidOptionError } from "../../errors.js"
import { DEFAULT_PROTOCOL, MAX_MESSAGE_SIZE } from "../../wire/codec.js"

/** Settings of the libp2p network; every field has a default (see {@link defaults}). */
export interface Libp2pNetworkOptions {
  /** Protocol identifier to speak and, when serving, to advertise. */
  readonly protocol?: string
  /** Deadline for one request, send or connect when the caller gives none. */
  readonly requestTimeoutMillis?: number
  /** How long an inbound stream may sit without a new request (or a response write may stall) before it is closed. */
  readonly inboundIdleTimeoutMillis?: number
  /** How long an idle outbound stream is kept for reuse; below common server idle timeouts so reuse rarely races a close. */
  readonly outboundIdleTimeoutMillis?: number
  /** Idle outbound streams kept per peer for reuse. */
  readonly maxIdleStreamsPerPeer?: number
  /** Concurrent inbound DHT streams accepted per connection (enforced by libp2p) and per peer (enforced here). */
  readonly maxInboundStreams?: number
  /** Concurrent outbound DHT streams per connection (enforced by libp2p). */
  readonly maxOutboundStreams?: number
  /** Largest message accepted or sent, in bytes. */
  readonly maxMessageSize?: number
  /** Peer events buffered per slow subscriber before the oldest are dropped. */
  readonly eventBufferSize?: number
}

/** The default settings: the public DHT protocol, libp2p's stream limits and 4 MiB messages. */
export const defaults: Required<Libp2pNetworkOptions> = {
  protocol: DEFAULT_PROTOCOL,
  requestTimeoutMillis: 10_000,
  inboundIdleTimeoutMillis: 10_000,
  outboundIdleTimeoutMillis: 5_000,
  maxIdleStreamsPerPeer: 4,
  maxInboundStreams: 32,
  maxOutboundStreams: 64,
  maxMessageSize: MAX_MESSAGE_SIZE,
  eventBufferSize: 4096
}

/** The options over {@link defaults}, failing on the first invalid field. */
export const resolveOptions = (
  options: Libp2pNetworkOptions
): Effect.Effect<Required<Libp2pNetworkOptions>, InvalidOptionError> =>
  Effect.suspend(() => {
    const resolved = { ...defaults, ...stripUndefined(options) }
    if (resolved.protocol.length === 0 || !resolved.protocol.startsWith("/")) {
      return Effect.fail(
        new InvalidOptionError({ field: "protocol", reason: "must be a non-empty path starting with /" })
      )
    }
    const positive: ReadonlyArray<keyof Libp2pNetworkOptions> = [
      "requestTimeoutMillis",
      "inboundIdleTimeoutMillis",
      "outboundIdleTimeoutMillis",
      "maxInboundStreams",
      "maxOutboundStreams",
      "maxMessageSize",
      "eventBufferSize"
    ]
    for (const field of positive) {
      const value = resolved[field] as number
      if (!Number.isFinite(value) || value <= 0) {
        return Effect.fail(new InvalidOptionError({ field, reason: `must be a positive number, got ${value}` }))
      }
    }
    if (!Number.isInteger(resolved.maxIdleStreamsPerPeer) || resolved.maxIdleStreamsPerPeer < 0) {
      return Effect.fail(
        new InvalidOptionError({ field: "maxIdleStreamsPerPeer", reason: "must be a non-negative integer" })
      )
    }
    return Effect.succeed(resolved)
  })

const stripUndefined = <A extends object>(value: A): Partial<A> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<A>
