/**
 * The host adapter of the libp2p `Network`: the structural shapes of a
 * js-libp2p node and of a service's `components`, both reduced to one set of
 * host operations, and the queries the network answers straight from the
 * host (peer store, connections, listen addresses), as go-libp2p-kad-dht
 * reads them from its `host.Host`.
 *
 * @module
 */
import type {
  AbortOptions,
  Connection,
  IdentifyResult,
  NewStreamOptions,
  Peer,
  PeerData,
  PeerId,
  PeerUpdate,
  Stream,
  StreamHandler,
  StreamHandlerOptions
} from "@libp2p/interface"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { TransientNetworkError } from "../../errors.js"
import type { NetworkShape } from "../../network/network.js"
import type { PeerInfo } from "../../wire/peer.js"

/** The part of a libp2p peer store the network reads and writes. */
export interface PeerStoreLike {
  get(peerId: PeerId, options?: AbortOptions): Promise<Peer>
  merge(peerId: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer>
}

/** The host events the network listens to. */
export interface HostEvents {
  "peer:identify": CustomEvent<IdentifyResult>
  "peer:update": CustomEvent<PeerUpdate>
  "peer:disconnect": CustomEvent<PeerId>
}

/** An event target that emits {@link HostEvents}: a `Libp2p` node, or `components.events`. */
export interface HostEventTarget {
  addEventListener<K extends keyof HostEvents>(type: K, listener: (event: HostEvents[K]) => void): void
  removeEventListener<K extends keyof HostEvents>(type: K, listener: (event: HostEvents[K]) => void): void
}

/** The subset of a js-libp2p `Libp2p` node the network needs; a real node satisfies it. */
export interface Libp2pNodeLike extends HostEventTarget {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  dialProtocol(peer: PeerId, protocol: string, options?: NewStreamOptions): Promise<Stream>
  dial(peer: PeerId, options?: AbortOptions): Promise<Connection>
  getConnections(peer?: PeerId): Array<Connection>
  getMultiaddrs(): Array<Multiaddr>
}

/**
 * The subset of the `components` a js-libp2p service receives that the
 * network needs, so a DHT packaged as a libp2p service can run on it.
 */
export interface Libp2pComponentsLike {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  readonly registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string): Promise<void>
  }
  readonly connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: NewStreamOptions): Promise<Stream>
    openConnection(peer: PeerId, options?: AbortOptions): Promise<Connection>
    getConnections(peer?: PeerId): Array<Connection>
  }
  readonly addressManager: { getAddresses(): Array<Multiaddr> }
  readonly events: HostEventTarget
}

/** Anything the libp2p network can run on: a `Libp2p` node or a service's `components`. */
export type Libp2pHostLike = Libp2pNodeLike | Libp2pComponentsLike

/** Both host shapes reduced to the operations the network uses. */
export interface HostOps {
  readonly peerId: PeerId
  readonly peerStore: PeerStoreLike
  readonly events: HostEventTarget
  readonly handle: (protocol: string, handler: StreamHandler, options: StreamHandlerOptions) => Promise<void>
  readonly unhandle: (protocol: string) => Promise<void>
  readonly dialProtocol: (peer: PeerId, protocol: string, options: NewStreamOptions) => Promise<Stream>
  readonly dial: (peer: PeerId, options: AbortOptions) => Promise<Connection>
  readonly getConnections: (peer?: PeerId) => ReadonlyArray<Connection>
  readonly getMultiaddrs: () => ReadonlyArray<Multiaddr>
}

// js-libp2p hands services its components behind a Proxy whose `get` throws for
// a missing component and that has no `has` trap: `"registrar" in components` is
// false and reading `components.dialProtocol` throws, but `in` on a node method is safe.
const isNode = (host: Libp2pHostLike): host is Libp2pNodeLike => "dialProtocol" in host

/** Reduces either host shape to {@link HostOps}. */
export const toHostOps = (host: Libp2pHostLike): HostOps => {
  if (!isNode(host)) {
    const { registrar, connectionManager, addressManager } = host
    return {
      peerId: host.peerId,
      peerStore: host.peerStore,
      events: host.events,
      handle: (protocol, handler, options) => registrar.handle(protocol, handler, options),
      unhandle: (protocol) => registrar.unhandle(protocol),
      dialProtocol: (peer, protocol, options) => connectionManager.openStream(peer, protocol, options),
      dial: (peer, options) => connectionManager.openConnection(peer, options),
      getConnections: (peer) => connectionManager.getConnections(peer),
      getMultiaddrs: () => addressManager.getAddresses()
    }
  }
  return {
    peerId: host.peerId,
    peerStore: host.peerStore,
    events: host,
    handle: (protocol, handler, options) => host.handle(protocol, handler, options),
    unhandle: (protocol) => host.unhandle(protocol),
    dialProtocol: (peer, protocol, options) => host.dialProtocol(peer, protocol, options),
    dial: (peer, options) => host.dial(peer, options),
    getConnections: (peer) => host.getConnections(peer),
    getMultiaddrs: () => host.getMultiaddrs()
  }
}

/** The text of a rejection from the host, for error reasons. */
export const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const P2P_CODE = 421

/** The {@link NetworkShape} operations answered from the host's peer store and connections. */
export type HostQueries = Pick<
  NetworkShape,
  | "addressesOf"
  | "rememberAddresses"
  | "selfInfo"
  | "connectedPeers"
  | "connectedServers"
  | "isConnected"
  | "connectionAddressesOf"
  | "awaitIdentified"
> & {
  /** Dials `peer` (no deadline: the caller adds one). */
  readonly dial: (peer: PeerId) => Effect.Effect<void, TransientNetworkError>
}

/**
 * The host queries of the network speaking `protocol` on `ops`.
 *
 * @example
 * ```ts
 * const queries = hostQueries(toHostOps(node), DEFAULT_PROTOCOL)
 * const servers = yield* queries.connectedServers
 * ```
 */
export const hostQueries = (ops: HostOps, protocol: string): HostQueries => {
  const self = ops.peerId

  const addressesOf: NetworkShape["addressesOf"] = (peer) =>
    Effect.promise(() =>
      ops.peerStore.get(peer).then(
        (stored) => stored.addresses.map((address) => address.multiaddr),
        () => []
      )
    )

  const rememberAddresses: NetworkShape["rememberAddresses"] = (peer) =>
    Effect.suspend(() => {
      if (peer.multiaddrs.length === 0 || peer.id.equals(self)) return Effect.void
      // merge, not patch: addresses learned elsewhere (identify, other responses) stay
      return Effect.promise(() =>
        ops.peerStore.merge(peer.id, { multiaddrs: [...peer.multiaddrs] }).then(
          () => undefined,
          () => undefined
        )
      )
    })

  const selfInfo: NetworkShape["selfInfo"] = Effect.sync(() => {
    const seen = new Set<string>()
    const multiaddrs: Array<Multiaddr> = []
    for (const address of ops.getMultiaddrs()) {
      const last = address.getComponents().at(-1)
      const bare =
        last?.code === P2P_CODE && last.value === self.toString() ? address.decapsulateCode(P2P_CODE) : address
      const text = bare.toString()
      if (seen.has(text)) continue
      seen.add(text)
      multiaddrs.push(bare)
    }
    return { id: self, multiaddrs }
  })

  const connectedPeers: NetworkShape["connectedPeers"] = Effect.sync(() => {
    const seen = new Map<string, PeerId>()
    for (const connection of ops.getConnections()) {
      if (connection.status === "open") seen.set(connection.remotePeer.toString(), connection.remotePeer)
    }
    return [...seen.values()]
  })

  const connectedServers: NetworkShape["connectedServers"] = Effect.flatMap(connectedPeers, (peers) =>
    Effect.promise(async () => {
      const servers: Array<PeerInfo> = []
      for (const peer of peers) {
        const stored = await ops.peerStore.get(peer).catch(() => undefined)
        if (stored?.protocols.includes(protocol)) {
          servers.push({ id: stored.id, multiaddrs: stored.addresses.map((address) => address.multiaddr) })
        }
      }
      return servers
    })
  )

  const isConnected: NetworkShape["isConnected"] = (peer) =>
    Effect.sync(() => ops.getConnections(peer).some((connection) => connection.status === "open"))

  const connectionAddressesOf: NetworkShape["connectionAddressesOf"] = (peer) =>
    Effect.sync(() =>
      ops
        .getConnections(peer)
        .filter((connection) => connection.status === "open")
        .map((connection) => connection.remoteAddr)
    )

  /** Identify has run when the peer store lists the peer's protocols; a closed connection ends the wait too. */
  const identifiedOrGone = (peer: PeerId): Promise<boolean> =>
    ops.getConnections(peer).some((connection) => connection.status === "open")
      ? ops.peerStore.get(peer).then(
          (stored) => stored.protocols.length > 0,
          () => false
        )
      : Promise.resolve(true)

  const awaitIdentified: NetworkShape["awaitIdentified"] = (peers) =>
    Effect.gen(function* () {
      const pending = new Set(peers)
      // identify answers within a round trip or two; each pause is a point where the caller's timeout ends the wait
      while (pending.size > 0) {
        for (const peer of [...pending]) {
          if (yield* Effect.promise(() => identifiedOrGone(peer))) pending.delete(peer)
        }
        if (pending.size > 0) yield* Effect.sleep(Duration.millis(50))
      }
    })

  const dial = (peer: PeerId): Effect.Effect<void, TransientNetworkError> =>
    Effect.tryPromise({
      try: (signal) => ops.dial(peer, { signal }),
      catch: (cause) =>
        new TransientNetworkError({ peer: peer.toString(), reason: `dial failed: ${errorText(cause)}`, cause })
    }).pipe(Effect.asVoid)

  return {
    addressesOf,
    rememberAddresses,
    selfInfo,
    connectedPeers,
    connectedServers,
    isConnected,
    connectionAddressesOf,
    awaitIdentified,
    dial
  }
}
