/**
 * Real libp2p hosts on 127.0.0.1 for multi-node tests: TCP, Noise, Yamux,
 * Identify. Every host listens on an ephemeral loopback port.
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { identify, identifyPush } from "@libp2p/identify"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"

/** Starts one loopback host. */
export const createLoopbackHost = (): Promise<Libp2p> =>
  createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), identifyPush: identifyPush() }
  })

/** The first listen address of a host with its /p2p/ suffix, for bootstrap lists. */
export const dialableAddress = (host: Libp2p): string => host.getMultiaddrs()[0].toString()
