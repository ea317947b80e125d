/**
 * The `Network` service: how a DHT node sends requests to other nodes and
 * receives theirs. Everything above it (lookup, values, providers) speaks
 * only to this service, so the same code runs over real libp2p hosts and
 * over the in-memory simulated network.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ProtocolError, RequestRefusedError, TimeoutError, TransientNetworkError } from "../errors.js"
import type { Message } from "../wire/codec.js"
import type { PeerInfo } from "../wire/peer.js"

/** Why a request to one peer failed. */
export type RequestError = TransientNetworkError | ProtocolError | TimeoutError

/**
 * Answers one inbound request. Returning `undefined` sends no response
 * (ADD_PROVIDER, which go servers never answer). Failing with
 * {@link RequestRefusedError} refuses the request: the stream is reset at
 * once, as go and js servers do.
 */
export type RequestHandler = (from: PeerId, request: Message) => Effect.Effect<Message | undefined, RequestRefusedError>

/** Per-request settings. */
export interface RequestOptions {
  /** Deadline for the whole exchange (dial, write, read). */
  readonly timeoutMillis?: number
  /**
   * Called once the request has been written to an open stream: from then
   * on only the remote's answer is awaited. Lookups start a peer's response
   * deadline here, apart from the time the dial took.
   */
  readonly onSent?: () => void
}

/** Something that happened to a peer, as seen by the network layer. */
export type PeerEvent =
  /** The peer is connected and speaks the DHT protocol as a server (advertised it, e.g. via identify). */
  | { readonly _tag: "DhtServerSeen"; readonly peer: PeerInfo }
  /** The peer stopped advertising the DHT protocol (it switched to client mode). */
  | { readonly _tag: "DhtServerGone"; readonly peer: PeerId }
  /** The last connection to the peer closed. */
  | { readonly _tag: "Disconnected"; readonly peer: PeerId }

/** Whether this node accepts inbound DHT streams. */
export type ServingMode = "client" | "server"

/** Operations of the {@link Network} service. */
export interface NetworkShape {
  /** This node's peer ID. */
  readonly self: PeerId
  /** The protocol identifier spoken, e.g. `/ipfs/kad/1.0.0`. */
  readonly protocol: string
  /** Sends `request` to `peer` and waits for its response. */
  readonly request: (peer: PeerId, request: Message, options?: RequestOptions) => Effect.Effect<Message, RequestError>
  /** Sends `message` to `peer` without waiting for a response. */
  readonly send: (peer: PeerId, message: Message, options?: RequestOptions) => Effect.Effect<void, RequestError>
  /**
   * Accepts inbound requests with `handler` (server mode) until the scope
   * closes. While serving, the protocol is advertised to other peers.
   */
  readonly serve: (handler: RequestHandler) => Effect.Effect<void, never, Scope.Scope>
  /** Known addresses of a peer (from the peer store); empty when none. */
  readonly addressesOf: (peer: PeerId) => Effect.Effect<ReadonlyArray<Multiaddr>>
  /** Records addresses learned about a peer (from a response, a provider record, bootstrap config). */
  readonly rememberAddresses: (peer: PeerInfo) => Effect.Effect<void>
  /** This node's own ID and listen addresses. */
  readonly selfInfo: Effect.Effect<PeerInfo>
  /** Peers currently connected that speak the DHT protocol as servers. */
  readonly connectedServers: Effect.Effect<ReadonlyArray<PeerInfo>>
  /** Whether a peer currently has an open connection. */
  readonly isConnected: (peer: PeerId) => Effect.Effect<boolean>
  /** The remote addresses of the open connections to a peer (how it reached us, or we it). */
  readonly connectionAddressesOf: (peer: PeerId) => Effect.Effect<ReadonlyArray<Multiaddr>>
  /** Peers with an open connection, whatever protocols they speak. */
  readonly connectedPeers: Effect.Effect<ReadonlyArray<PeerId>>
  /**
   * Completes once identify has told which protocols each of `peers`
   * speaks (or the peer disconnected). Callers bound it with a timeout.
   */
  readonly awaitIdentified: (peers: ReadonlyArray<PeerId>) => Effect.Effect<void>
  /** Dials a peer (used by bootstrap); fails like a request would. */
  readonly connect: (peer: PeerInfo, options?: RequestOptions) => Effect.Effect<void, RequestError>
  /** Peer events; a new subscriber sees events from subscription on. */
  readonly events: Stream.Stream<PeerEvent>
}

/**
 * The network a DHT node runs on. Provided by `Libp2pNetwork.layer(host)`
 * for real hosts or by `MemoryNetwork` for simulations and tests.
 */
export class Network extends Context.Tag("@effect-kad/core/Network")<Network, NetworkShape>() {}
