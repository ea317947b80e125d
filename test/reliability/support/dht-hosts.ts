/**
 * Full DHT nodes on real libp2p hosts on 127.0.0.1, assembled like
 * `new IpfsDHT({ host })` but with the network's own limits (idle timeouts,
 * inbound stream caps) settable, so the fast tests need not wait for the
 * production timeouts. Plus raw access to the wire for playing a hostile peer.
 */
import { Libp2pNetwork, type Validator } from "@effect-kad/core"
import { DHTConfig, DHTMode, type DHTOptions, Dht, hostReachability, IpfsDHT } from "@effect-kad/dht"
import type { Stream } from "@libp2p/interface"
import { multiaddr } from "@multiformats/multiaddr"
import { Effect } from "effect"
import type { Libp2p } from "libp2p"
import { createLoopbackHost, dialableAddress } from "../../support/hosts.js"
import { reliabilityValidator } from "./nodes.js"

/** A running node: its host and the DHT on it. */
export interface DhtHost {
  readonly host: Libp2p
  readonly dht: IpfsDHT
  /** Closes the DHT, then stops the host. Idempotent. */
  readonly stop: () => Promise<void>
}

/** Settings of {@link startDhtHost}. */
export interface DhtHostOptions {
  /** Peers to bootstrap from. */
  readonly bootstrap?: ReadonlyArray<Libp2p>
  /** DHT options on top of server mode, no localhost filtering, short request timeouts. */
  readonly options?: DHTOptions
  /** Limits of the libp2p network (idle timeouts, stream caps). */
  readonly network?: Libp2pNetwork.Libp2pNetworkOptions
  readonly validator?: Validator
}

/** Starts a host on 127.0.0.1 and a server-mode DHT on it, bootstrapped when peers are given. */
export const startDhtHost = async (settings: DhtHostOptions = {}): Promise<DhtHost> => {
  const host = await createLoopbackHost()
  const config = await Effect.runPromise(
    DHTConfig.fromOptions({
      mode: DHTMode.server,
      filterLocalhostInResponses: false,
      requestTimeout: "5 seconds",
      maxRetryAttempts: 1,
      validator: settings.validator ?? reliabilityValidator(),
      bootstrapPeers: (settings.bootstrap ?? []).map(dialableAddress),
      ...settings.options
    })
  )
  const network = Libp2pNetwork.layer(host, {
    protocol: DHTConfig.protocol(config),
    requestTimeoutMillis: 5_000,
    ...settings.network
  })
  const dht = new IpfsDHT({ host }, Dht.layerWith(config, network, hostReachability(host)))
  await dht.start()
  if ((settings.bootstrap ?? []).length > 0) await dht.bootstrap()
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      await dht.close()
      await host.stop()
    })()
    return stopped
  }
  return { host, dht, stop }
}

/** Opens a raw DHT-protocol stream from `from` to `to`, outside any DHT code. */
export const rawStream = (from: Libp2p, to: Libp2p, protocol = "/ipfs/kad/1.0.0"): Promise<Stream> =>
  from.dialProtocol(multiaddr(dialableAddress(to)), protocol)

/** Resolves when the stream has finished; `reset` when it was reset or aborted rather than closed. */
export const whenFinished = (stream: Stream): Promise<{ readonly reset: boolean }> =>
  new Promise((resolve) => {
    if (stream.status === "reset" || stream.status === "aborted") return resolve({ reset: true })
    if (stream.status === "closed") return resolve({ reset: false })
    stream.addEventListener("close", (event) => resolve({ reset: event.error !== undefined }), { once: true })
  })

/** Resolves when the remote stopped sending on the stream (closed its side, reset or aborted). */
export const whenRemoteDone = (stream: Stream): Promise<void> =>
  new Promise((resolve) => {
    if (stream.remoteWriteStatus !== "writable" || stream.status !== "open") return resolve()
    stream.addEventListener("remoteCloseWrite", () => resolve(), { once: true })
    stream.addEventListener("close", () => resolve(), { once: true })
  })

/** DHT streams currently open on `node` with `peer`, half-closed ones included. */
export const openDhtStreams = (node: Libp2p, peer: Libp2p, protocol = "/ipfs/kad/1.0.0"): number =>
  node
    .getConnections(peer.peerId)
    .flatMap((connection) => connection.streams)
    .filter((stream) => stream.protocol === protocol && stream.status === "open").length

/** DHT streams on `node` with `peer` that `node` still serves (open, and its writing side not yet closed). */
export const servedDhtStreams = (node: Libp2p, peer: Libp2p, protocol = "/ipfs/kad/1.0.0"): number =>
  node
    .getConnections(peer.peerId)
    .flatMap((connection) => connection.streams)
    .filter((stream) => stream.protocol === protocol && stream.status === "open" && stream.writeStatus === "writable")
    .length

/** Polls `check` until it is true or `millis` pass; answers whether it became true. */
export const waitFor = async (check: () => boolean, millis: number, every = 50): Promise<boolean> => {
  const deadline = Date.now() + millis
  while (Date.now() < deadline) {
    if (check()) return true
    await new Promise((resolve) => setTimeout(resolve, every))
  }
  return check()
}
