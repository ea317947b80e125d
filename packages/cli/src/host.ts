/**
 * The libp2p hosts the CLI runs its DHT nodes on: TCP and WebSockets (so
 * browser clients can dial them), Noise, Yamux and Identify (with push, so
 * peers learn of mode changes), listening only where the user said. A host
 * listening on WebSockets also relays (circuit relay v2) for the browsers
 * it serves.
 *
 * @module
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { circuitRelayServer } from "@libp2p/circuit-relay-v2"
import { identify, identifyPush } from "@libp2p/identify"
import type { PrivateKey } from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { webSockets } from "@libp2p/websockets"
import { multiaddr } from "@multiformats/multiaddr"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createLibp2p, type Libp2p, type Libp2pOptions } from "libp2p"
import { reasonOf, StartupError } from "./errors.js"

/** A started host of the CLI. */
export type Host = Libp2p

/** Settings of {@link makeHost}. */
export interface HostOptions {
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` or `/ip4/127.0.0.1/tcp/0/ws`. */
  readonly listen: ReadonlyArray<string>
  /** The identity; a fresh Ed25519 key when omitted. */
  readonly privateKey?: PrivateKey
  /** libp2p's metrics subsystem (e.g. Prometheus); none when omitted. */
  readonly metrics?: Libp2pOptions["metrics"]
}

/**
 * Local processes (other `kad-dht` commands, the demo's nodes) may dial a
 * node many times a second from 127.0.0.1, which libp2p's per-host inbound
 * rate limit would refuse; loopback is trusted instead.
 */
const LOOPBACK = ["/ip4/127.0.0.0/ipcidr/8", "/ip6/::1/ipcidr/128"]

/**
 * Whether a multiaddr is a WebSockets one (`/ws` or `/wss`, possibly behind `/tls`).
 *
 * @example
 * ```ts
 * isWebSockets("/ip4/127.0.0.1/tcp/4002/ws") // true
 * isWebSockets("/ip4/127.0.0.1/tcp/4001") // false
 * ```
 */
export const isWebSockets = (address: string): boolean => /\/wss?(\/|$)/.test(address)

/**
 * Starts a host and stops it when the scope closes.
 *
 * A host listening on WebSockets runs a circuit relay server too: a page
 * cannot listen, so the only address a browser client can announce (in a
 * provider record, say, which DHT servers ignore without addresses) is a
 * `/p2p-circuit` one through a relay it is connected to.
 *
 * @example
 * ```ts
 * const host = yield* makeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] })
 * ```
 */
export const makeHost = (options: HostOptions): Effect.Effect<Host, StartupError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        createLibp2p({
          ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
          ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
          addresses: { listen: [...options.listen] },
          // WebSockets is the transport browsers can dial; it only listens where a `/ws` address asks it to
          transports: [tcp(), webSockets()],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()],
          connectionManager: { allow: LOOPBACK },
          services: {
            identify: identify(),
            identifyPush: identifyPush(),
            ...(options.listen.some(isWebSockets) ? { circuitRelay: circuitRelayServer() } : {})
          }
        }),
      catch: (cause) => new StartupError({ what: "the libp2p host", reason: reasonOf(cause), cause })
    }),
    (host) =>
      Effect.promise(async () => {
        await host.stop()
      })
  )

/**
 * The host's listen addresses as full multiaddrs ending in `/p2p/<peer id>`,
 * ready to pass to `--bootstrap`.
 */
export const dialableAddresses = (host: Host): Array<string> => {
  const id = host.peerId.toString()
  return host.getMultiaddrs().map((addr) => {
    const text = addr.toString()
    return text.includes("/p2p/") ? text : multiaddr(text).encapsulate(`/p2p/${id}`).toString()
  })
}
