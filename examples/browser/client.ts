/**
 * The browser page's DHT client: a js-libp2p node with the WebSockets
 * transport and an `IpfsDHT` in client mode that joins `kad-dht node --ws`
 * servers. Nothing here needs Node: it is what `bundle.ts` bundles for the
 * browser (the page's DOM code lives in `page.ts`).
 *
 * A page cannot listen, yet DHT servers ignore provider records without
 * addresses; so the client also reserves a slot on a circuit relay (the
 * servers run one) and announces the `/p2p-circuit` address it gets.
 *
 * Values go under `/cli/`, in the format `kad-dht put` writes, so a value
 * put from the page can be read with `kad-dht get` and the other way round.
 *
 * @module
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { CLI_NAMESPACE, cliNodeValidator, decodeCliValue, encodeCliValue } from "@effect-kad/cli/values"
import { bootstrapPeers, DHTMode, IpfsDHT, mode, validator } from "@effect-kad/dht"
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2"
import { identify, identifyPush } from "@libp2p/identify"
import { webSockets } from "@libp2p/websockets"
import type { Multiaddr } from "@multiformats/multiaddr"
import { createLibp2p, type Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"

/** A started browser client. */
export interface BrowserClient {
  readonly host: Libp2p
  readonly dht: IpfsDHT
  /** Stops the DHT, then the host. */
  readonly stop: () => Promise<void>
}

/** Settings of {@link startBrowserClient}. */
export interface BrowserClientOptions {
  /** Multiaddrs of DHT servers ending in `/ws/p2p/<peer id>`, as `kad-dht node --ws` prints them. */
  readonly bootstrap: ReadonlyArray<string>
}

/**
 * Starts a client: a libp2p host that only dials (a page cannot listen),
 * and the DHT in client mode, which asks servers but answers no one.
 *
 * @example
 * ```ts
 * const client = await startBrowserClient({ bootstrap: ["/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3Koo…"] })
 * await client.dht.bootstrap()
 * for await (const provider of client.dht.findProvidersAsync(cid, 5)) console.log(provider.id.toString())
 * await client.stop()
 * ```
 */
export const startBrowserClient = async (options: BrowserClientOptions): Promise<BrowserClient> => {
  const host = await createLibp2p({
    // `/p2p-circuit`: reserve a slot on a relay among the connected peers, once one is found
    addresses: { listen: ["/p2p-circuit"] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // In a browser, libp2p refuses plain ws:// and private addresses by default, which is all
    // that local `kad-dht node --ws` servers offer. Behind wss:// on public addresses, drop this.
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), identifyPush: identifyPush() }
  })
  const dht = new IpfsDHT({
    host,
    options: [mode(DHTMode.client), bootstrapPeers([...options.bootstrap]), validator(cliNodeValidator())]
  })
  try {
    await dht.start()
  } catch (cause) {
    await host.stop()
    throw cause
  }
  return {
    host,
    dht,
    stop: async () => {
      await dht.close()
      await host.stop()
    }
  }
}

/**
 * Waits until the host has an address others can reach it on (its relay
 * reservation), for at most `timeoutMillis`; rejects saying why when none
 * came. Provide only after this: servers drop provider records without
 * addresses.
 *
 * @example
 * ```ts
 * const addresses = await reachableAddresses(client.host, 10_000) // [/ip4/…/ws/p2p/<relay>/p2p-circuit/p2p/<self>]
 * ```
 */
export const reachableAddresses = (host: Libp2p, timeoutMillis: number): Promise<Array<Multiaddr>> =>
  new Promise((resolve, reject) => {
    const check = (): boolean => {
      const addresses = host.getMultiaddrs()
      if (addresses.length === 0) return false
      clearTimeout(timer)
      host.removeEventListener("self:peer:update", onUpdate)
      resolve(addresses)
      return true
    }
    const onUpdate = (): void => void check()
    const timer = setTimeout(() => {
      host.removeEventListener("self:peer:update", onUpdate)
      const connected = host.getConnections().length
      reject(
        new Error(
          connected === 0
            ? `no relay reservation within ${timeoutMillis} ms: not connected to any peer`
            : `no relay reservation within ${timeoutMillis} ms: none of the ${connected} connections is to a relay (kad-dht node --ws relays)`
        )
      )
    }, timeoutMillis)
    host.addEventListener("self:peer:update", onUpdate)
    check()
  })

/**
 * The CID of some text: raw codec, SHA-256, the same CID wherever it is
 * computed, so a page and a Node peer agree on what they provide.
 *
 * @example
 * ```ts
 * const cid = await cidOfText("hello") // bafkrei…
 * ```
 */
export const cidOfText = async (text: string): Promise<CID> =>
  CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)))

/** The DHT key of a name: `/cli/<name>`, as `kad-dht put <name>` stores it. */
export const valueKey = (name: string): string =>
  name.startsWith(`/${CLI_NAMESPACE}/`) ? name : `/${CLI_NAMESPACE}/${name}`

/** A value in the `/cli/` format, stamped now (the newest stamp wins between copies). */
export const encodeValue = (text: string): Uint8Array => encodeCliValue(text, Date.now())

/** The text of a `/cli/` value, or undefined when the bytes are not one. */
export const decodeValue = (bytes: Uint8Array): string | undefined => decodeCliValue(bytes)?.value
