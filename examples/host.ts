/**
 * The libp2p host every example runs on: the guide's `createLibp2pHost()`.
 *
 * The DHT needs a js-libp2p 3.x node with a transport, an encrypter, a
 * muxer and Identify (the DHT learns which peers speak `/ipfs/kad/1.0.0`
 * from Identify). These examples listen on 127.0.0.1 only; a real
 * application listens on `/ip4/0.0.0.0/tcp/4001` or behind a relay.
 *
 * @module
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { identify, identifyPush } from "@libp2p/identify"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"

/**
 * Starts a libp2p host: TCP, Noise, Yamux, Identify.
 *
 * @example
 * ```ts
 * const host = await createLibp2pHost()
 * console.log(host.peerId.toString(), host.getMultiaddrs().map(String))
 * await host.stop()
 * ```
 */
export const createLibp2pHost = (listen: ReadonlyArray<string> = ["/ip4/127.0.0.1/tcp/0"]): Promise<Libp2p> =>
  createLibp2p({
    addresses: { listen: [...listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // js-libp2p accepts 5 new inbound connections per second from one IP by default; on loopback every
    // peer is 127.0.0.1, so a burst of examples joining at once would be refused
    connectionManager: { inboundConnectionThreshold: 1_000 },
    services: { identify: identify(), identifyPush: identifyPush() }
  })

/** A host's first listen address with its `/p2p/<peer id>` suffix: what other nodes put in their bootstrap list. */
export const bootstrapAddressOf = (host: Libp2p): string => host.getMultiaddrs()[0].toString()
