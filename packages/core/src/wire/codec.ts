/**
 * Encoding and decoding of single DHT messages (no length prefix), with
 * bounds on repeated fields so a hostile message cannot make the decoder
 * build huge arrays.
 *
 * @module
 */
import * as Either from "effect/Either"
import { DecodeError } from "../errors.js"
import { Message } from "./message.generated.js"

export { Message, Record as WireRecord } from "./message.generated.js"

/** The protocol identifier of the public libp2p Kademlia DHT. */
export const DEFAULT_PROTOCOL = "/ipfs/kad/1.0.0"

/** Largest message either side may send: 4 MiB, as go-libp2p and js-libp2p enforce. */
export const MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/**
 * Decoder limits. A response carries at most k closer peers, but peers may
 * run larger buckets, so the cap is generous while still bounded; providers
 * are bounded by the 4 MiB frame anyway.
 */
export const DECODE_LIMITS = {
  closerPeers: 200,
  providerPeers: 2000,
  addrs: 64
} as const

const decodeOptions = {
  limits: {
    closerPeers: DECODE_LIMITS.closerPeers,
    providerPeers: DECODE_LIMITS.providerPeers,
    closerPeers$: { addrs: DECODE_LIMITS.addrs },
    providerPeers$: { addrs: DECODE_LIMITS.addrs }
  }
}

/**
 * Encodes a message to protobuf bytes (no length prefix).
 *
 * `type` is a plain proto3 field in go-libp2p-kad-dht and @libp2p/kad-dht, so
 * both leave out its default, PUT_VALUE (0); we do the same, which makes our
 * bytes identical to theirs. Every other present field is written as given
 * (an explicit `connection: NOT_CONNECTED` stays on the wire); go and js
 * decode a written default and an absent field alike.
 */
export const encodeMessage = (message: Partial<Message>): Uint8Array =>
  Message.encode(message.type === Message.MessageType.PUT_VALUE ? { ...message, type: undefined } : message)

/**
 * Decodes protobuf bytes into a message, or a {@link DecodeError} that says
 * why. Never throws. An absent `type` is PUT_VALUE, the proto3 default that
 * go and js peers leave off the wire.
 */
export const decodeMessage = (bytes: Uint8Array): Either.Either<Message, DecodeError> => {
  try {
    const message = Message.decode(bytes, decodeOptions)
    // proto3 strings are UTF-8; a malformed one decodes to lone surrogates that no peer wrote
    const time = message.record?.timeReceived
    if (time !== undefined && !time.isWellFormed()) {
      return Either.left(new DecodeError({ reason: "record timeReceived is not valid UTF-8" }))
    }
    if (message.type == null) message.type = Message.MessageType.PUT_VALUE
    return Either.right(message)
  } catch (cause) {
    return Either.left(
      new DecodeError({ reason: cause instanceof Error ? cause.message : "malformed protobuf", cause })
    )
  }
}

/** The message types, re-exported under a shorter name for handlers and callers. */
export const MessageType = Message.MessageType
export type MessageType = Message.MessageType

/** The connection hints carried with peers. */
export const ConnectionType = Message.ConnectionType
export type ConnectionType = Message.ConnectionType
