/**
 * libp2p hosts for the network benchmarks: TCP on 127.0.0.1, Noise, Yamux,
 * Identify and Ping, the same stack for every host whichever DHT it runs,
 * so that the DHTs are the only difference between two measurements.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { identify, identifyPush } from "@libp2p/identify"
import type { PeerId } from "@libp2p/interface"
import { ping } from "@libp2p/ping"
import { tcp } from "@libp2p/tcp"
import { createLibp2p, type Libp2p } from "libp2p"

/** The DHT protocol both implementations speak in every suite. */
export const PROTOCOL = "/ipfs/kad/1.0.0"

/** This project's DHT, as tables and charts name it. */
export const OURS = "effect-kad"

/** The js-libp2p DHT it is compared with, as tables and charts name it. */
export const THEIRS = "@libp2p/kad-dht"

/** Which DHT a host runs. */
export type Impl = "ours" | "theirs"

/** The display name of an implementation. */
export const implName = (impl: Impl): string => (impl === "ours" ? OURS : THEIRS)

/** A js-libp2p service factory, such as `kadDHT(...)` returns. */
export type ServiceFactory = (components: never) => unknown

/**
 * Starts a loopback host with the shared stack and, when given, a DHT
 * service under `services.dht`.
 *
 * js-libp2p refuses a sixth inbound connection per second from one IP and
 * caps pending inbound connections; on loopback every peer is 127.0.0.1,
 * so both limits are raised, for every host alike.
 *
 * @example
 * ```ts
 * const host = await startHost(kadDHT({ protocol: PROTOCOL, clientMode: false }))
 * ```
 */
export const startHost = (dht?: ServiceFactory): Promise<Libp2p<{ dht: unknown }>> => {
  const services: Record<string, ServiceFactory> = { identify: identify(), identifyPush: identifyPush(), ping: ping() }
  if (dht !== undefined) services.dht = dht
  return createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: 100_000,
      maxIncomingPendingConnections: 1_024,
      maxConnections: 1_000
    },
    // the monitor pings every connection every few seconds: with hundreds of loopback connections in one
    // process that is steady background load on the event loop, the same for both DHTs and measured by neither
    connectionMonitor: { enabled: false },
    // each factory accepts the components js-libp2p hands it; the map's precise type is not worth spelling out here
    services: services as never
  }) as Promise<Libp2p<{ dht: unknown }>>
}

/** Whether `host` has run identify with `peer` (its peer store then lists the peer's protocols). */
const identified = async (host: Libp2p, peer: PeerId): Promise<boolean> => {
  try {
    return (await host.peerStore.get(peer)).protocols.length > 0
  } catch {
    return false
  }
}

/**
 * Dials `to` from `from` and waits until identify has run both ways, so
 * that each side knows which protocols the other serves (both DHTs learn
 * their first routing-table peers from identify).
 */
export const connectHosts = async (from: Libp2p, to: Libp2p, timeoutMillis = 20_000): Promise<void> => {
  const signal = AbortSignal.timeout(timeoutMillis)
  await from.dial(to.getMultiaddrs(), { signal })
  while (!((await identified(from, to.peerId)) && (await identified(to, from.peerId)))) {
    signal.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Stops hosts, each bounded so one stuck host cannot hold up the rest. */
export const stopHosts = async (hosts: ReadonlyArray<Libp2p>): Promise<void> => {
  await Promise.all(
    hosts.map((host) =>
      Promise.race([
        Promise.resolve()
          .then(() => host.stop())
          .catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 10_000))
      ])
    )
  )
}

/** The installed version of @libp2p/kad-dht, read from its package.json. */
export const kadDhtVersion = (): string => {
  const entry = import.meta.resolve("@libp2p/kad-dht")
  return (JSON.parse(readFileSync(new URL("../../package.json", entry), "utf8")) as { version: string }).version
}
