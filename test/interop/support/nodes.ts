/**
 * Real js-libp2p hosts on 127.0.0.1 (TCP, Noise, Yamux, Identify, Ping),
 * each running one DHT: this project's (`ours`) or `@libp2p/kad-dht`
 * (`js`), behind one Effect interface so every test can run the same
 * operation in both directions.
 *
 * Every host is acquired under a Scope and stopped when it closes, also
 * when a test fails.
 *
 * @module
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { defaultValidator } from "@effect-kad/core"
import {
  DHTMode,
  filterLocalhostInResponses,
  type IpfsDHT,
  type KadDHTService,
  mode,
  kadDHT as ourKadDHT,
  validator
} from "@effect-kad/dht"
import { identify } from "@libp2p/identify"
import type { PeerId, PeerInfo } from "@libp2p/interface"
import { kadDHT as jsKadDHT, type KadDHT, passthroughMapper, type QueryEvent } from "@libp2p/kad-dht"
import { ping } from "@libp2p/ping"
import { tcp } from "@libp2p/tcp"
import type { Multiaddr } from "@multiformats/multiaddr"
import { Data, Duration, Effect, Option, type Scope } from "effect"
import { createLibp2p, type Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { jsValidators, TEST_NAMESPACE, testValidator } from "./validator.js"

/**
 * Which DHT implementation a node runs: this project's or `@libp2p/kad-dht`
 * on a js-libp2p host in this process, or go-libp2p-kad-dht or rust-libp2p
 * kad in a peer program driven over stdin/stdout (`external-peer.ts`).
 */
export type Impl = "ours" | "js" | "go" | "rust"

/** The implementations that run on a js-libp2p host in this process. */
export type HostImpl = "ours" | "js"

/** Whether the DHT answers queries (and advertises the protocol) or only asks. */
export type Role = "server" | "client"

/** The protocol both implementations speak in the suite. */
export const PROTOCOL = "/ipfs/kad/1.0.0"

/** Deadline of one DHT operation; lookups in a dozen loopback nodes take well under a second. */
export const OPERATION_TIMEOUT = Duration.seconds(20)

/** A DHT operation failed, timed out, or a host could not be started. */
export class InteropError extends Data.TaggedError("InteropError")<{
  readonly node: string
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `${this.node}: ${this.operation} failed: ${reason}`
  }
}

/** A QUERY_ERROR event a js node reported, kept so tests can tell which peer misbehaved. */
export interface QueryErrorRecord {
  readonly operation: string
  readonly from: PeerId
  readonly message: string
}

/**
 * One DHT node, driven the same way whichever implementation it runs and
 * whether it runs in this process or in a peer program.
 */
export interface AnyDhtNode {
  /** A readable name for failure messages, such as `js-server-2`. */
  readonly name: string
  readonly impl: Impl
  readonly role: Role
  readonly peerId: PeerId
  /** The host's listen addresses (all on 127.0.0.1). */
  readonly addresses: () => ReadonlyArray<Multiaddr>
  /** Announces that this node provides `cid`. */
  readonly provide: (cid: CID) => Effect.Effect<void, InteropError>
  /** Every provider of `cid` the network returns. */
  readonly findProviders: (cid: CID) => Effect.Effect<ReadonlyArray<PeerInfo>, InteropError>
  /** Stores a value locally and on the closest peers. */
  readonly put: (key: Uint8Array, value: Uint8Array) => Effect.Effect<void, InteropError>
  /** The best value the network holds for `key`. */
  readonly get: (key: Uint8Array) => Effect.Effect<Option.Option<Uint8Array>, InteropError>
  /** A peer's addresses, learned from the network (js: without its local cache). */
  readonly findPeer: (id: PeerId) => Effect.Effect<Option.Option<PeerInfo>, InteropError>
  /** The closest peers to `key` that answered a lookup. */
  readonly getClosestPeers: (key: Uint8Array) => Effect.Effect<ReadonlyArray<PeerId>, InteropError>
  /** Whether `id` is in this node's routing table. */
  readonly routingTableHas: (id: PeerId) => Effect.Effect<boolean, InteropError>
  /** Runs a lookup for this node's own ID, which fills the routing table. */
  readonly refresh: Effect.Effect<void, InteropError>
}

/** A node on a js-libp2p host in this process. */
export interface DhtNode extends AnyDhtNode {
  readonly impl: HostImpl
  readonly host: Libp2p
}

/**
 * A node in a peer program: it dials when told to, and its dial returns
 * once identify has finished on its side (see `test/interop/peers/PROTOCOL.md`).
 */
export interface ExternalNode extends AnyDhtNode {
  readonly impl: Exclude<Impl, HostImpl>
  /** Dials `peer` at `addrs` (or reuses a connection) and waits until this node has identified it. */
  readonly dial: (peer: PeerId, addrs: ReadonlyArray<Multiaddr>) => Effect.Effect<void, InteropError>
}

/** A node running `@libp2p/kad-dht`. */
export interface JsDhtNode extends DhtNode {
  readonly impl: "js"
  readonly dht: KadDHT
  /** Every QUERY_ERROR this node's operations saw, oldest first. */
  readonly queryErrors: Array<QueryErrorRecord>
}

/** A node running this project's DHT. */
export interface OurDhtNode extends DhtNode {
  readonly impl: "ours"
  readonly dht: IpfsDHT
}

/** The host settings every node of the suite shares: 127.0.0.1 over TCP, Noise and Yamux. */
export const loopbackConfig = () => ({
  addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // js-libp2p refuses a sixth inbound connection per second from one IP; here every peer is 127.0.0.1
  connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 256 }
})

/**
 * Starts a libp2p host under the scope and stops it when the scope closes.
 * Stopping is bounded so one stuck host cannot hold up the rest.
 */
export const acquireHost = <T extends Libp2p>(
  name: string,
  start: () => Promise<T>
): Effect.Effect<T, InteropError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: start, catch: (cause) => new InteropError({ node: name, operation: "start", cause }) }),
    (host) => Effect.promise(async () => host.stop()).pipe(Effect.timeoutOption("10 seconds"), Effect.ignore)
  )

const attempt = <A>(node: string, operation: string, run: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({
    try: (signal) => run(AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(OPERATION_TIMEOUT))])),
    catch: (cause) => new InteropError({ node, operation, cause })
  })

const isNotFound = (error: unknown): boolean => error instanceof Error && error.name === "NotFoundError"

/** A host with no DHT at all, for writing raw bytes to the DHT protocol. */
export const startProbe = (name = "probe"): Effect.Effect<Libp2p, InteropError, Scope.Scope> =>
  acquireHost(name, () => createLibp2p({ ...loopbackConfig(), services: { identify: identify(), ping: ping() } }))

/**
 * A host running `@libp2p/kad-dht`, configured as a loopback network needs:
 * the passthrough mapper (the default drops private and loopback
 * addresses), an explicit mode (the default waits for a public address),
 * and the test namespace's validator and selector.
 */
export const startJsNode = (name: string, role: Role): Effect.Effect<JsDhtNode, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = yield* acquireHost(name, () =>
      createLibp2p({
        ...loopbackConfig(),
        services: {
          identify: identify(),
          ping: ping(),
          dht: jsKadDHT({
            protocol: PROTOCOL,
            clientMode: role === "client",
            peerInfoMapper: passthroughMapper,
            ...jsValidators
          })
        }
      })
    )
    const dht = host.services.dht
    const queryErrors: Array<QueryErrorRecord> = []
    // runs a query to the end, noting its errors, and hands every event to `onEvent`
    const drain = (operation: string, events: (signal: AbortSignal) => AsyncIterable<QueryEvent>) => {
      return <A>(onEvent: (event: QueryEvent) => void, result: () => A) =>
        attempt(name, operation, async (signal) => {
          for await (const event of events(signal)) {
            if (event.name === "QUERY_ERROR") {
              queryErrors.push({ operation, from: event.from, message: event.error.message })
            }
            onEvent(event)
          }
          return result()
        })
    }
    // the DHT's routing table is not in its public types; `find` answers membership
    const table = (dht as unknown as { routingTable: { find(id: PeerId): Promise<PeerId | undefined> } }).routingTable

    const node: JsDhtNode = {
      name,
      impl: "js",
      role,
      host,
      peerId: host.peerId,
      dht,
      queryErrors,
      addresses: () => host.getMultiaddrs(),
      provide: (cid) =>
        drain("provide", (signal) => dht.provide(cid, { signal }))(
          () => undefined,
          () => undefined
        ),
      findProviders: (cid) => {
        const found = new Map<string, PeerInfo>()
        return drain("findProviders", (signal) => dht.findProviders(cid, { signal }))(
          (event) => {
            if (event.name === "PROVIDER") for (const p of event.providers) found.set(p.id.toString(), p)
          },
          () => [...found.values()]
        )
      },
      put: (key, value) =>
        drain("put", (signal) => dht.put(key, value, { signal }))(
          () => undefined,
          () => undefined
        ),
      get: (key) => {
        let best: Uint8Array | undefined
        // get yields the best value last, after any it saw on the way
        return drain("get", (signal) => dht.get(key, { signal }))(
          (event) => {
            if (event.name === "VALUE") best = event.value
          },
          () => Option.fromNullable(best)
        ).pipe(
          Effect.catchIf(
            (error) => isNotFound(error.cause),
            () => Effect.succeed(Option.none<Uint8Array>())
          )
        )
      },
      findPeer: (id) => {
        let found: PeerInfo | undefined
        return drain("findPeer", (signal) => dht.findPeer(id, { signal, useCache: false }))(
          (event) => {
            if (event.name === "FINAL_PEER" && event.peer.id.equals(id)) found = event.peer
          },
          () => Option.fromNullable(found)
        ).pipe(
          Effect.catchIf(
            (error) => isNotFound(error.cause),
            () => Effect.succeed(Option.none<PeerInfo>())
          )
        )
      },
      getClosestPeers: (key) => {
        const peers: Array<PeerId> = []
        return drain("getClosestPeers", (signal) => dht.getClosestPeers(key, { signal }))(
          (event) => {
            if (event.name === "FINAL_PEER") peers.push(event.peer.id)
          },
          () => peers
        )
      },
      routingTableHas: (id) => attempt(name, "routingTable.find", async () => (await table.find(id)) !== undefined),
      refresh: Effect.asVoid(
        drain("refresh", (signal) => dht.getClosestPeers(host.peerId.toMultihash().bytes, { signal }))(
          () => undefined,
          () => undefined
        )
      )
    }
    return node
  })

/**
 * A host running this project's DHT as a js-libp2p service, with loopback
 * addresses kept in responses and the test namespace's validator. The host
 * runs the ping service unless `ping: false`, which only the test showing
 * why it is needed asks for.
 */
export const startOurNode = (
  name: string,
  role: Role,
  options: { readonly ping?: boolean } = {}
): Effect.Effect<OurDhtNode, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = yield* acquireHost(name, () =>
      createLibp2p({
        ...loopbackConfig(),
        services: {
          identify: identify(),
          // @libp2p/kad-dht pings a new contact with /ipfs/ping/1.0.0 before admitting it
          ...(options.ping === false ? {} : { ping: ping() }),
          dht: ourKadDHT([
            mode(role === "server" ? DHTMode.server : DHTMode.client),
            filterLocalhostInResponses(false),
            // added to the default /pk and /ipns validators (a plain map would replace them)
            validator(defaultValidator().addValidator(TEST_NAMESPACE, testValidator))
          ])
        }
      })
    )
    const dht = (host.services.dht as KadDHTService).dht
    const timeout = OPERATION_TIMEOUT
    const node: OurDhtNode = {
      name,
      impl: "ours",
      role,
      host,
      peerId: host.peerId,
      dht,
      addresses: () => host.getMultiaddrs(),
      provide: (cid) => attempt(name, "provide", (signal) => dht.provide(cid, true, { signal, timeout })),
      findProviders: (cid) =>
        attempt(name, "findProviders", async (signal) => {
          const found = new Map<string, PeerInfo>()
          for await (const p of dht.findProvidersAsync(cid, 0, { signal, timeout })) {
            found.set(p.id.toString(), { id: p.id, multiaddrs: [...p.multiaddrs] })
          }
          return [...found.values()]
        }),
      put: (key, value) => attempt(name, "put", (signal) => dht.putValue(key, value, { signal, timeout })),
      get: (key) =>
        attempt(name, "get", async (signal) => Option.fromNullable(await dht.getValue(key, { signal, timeout }))),
      findPeer: (id) =>
        attempt(name, "findPeer", async (signal) => {
          const found = await dht.findPeer(id, { signal, timeout })
          return found === null ? Option.none() : Option.some({ id: found.id, multiaddrs: [...found.multiaddrs] })
        }),
      getClosestPeers: (key) =>
        attempt(name, "getClosestPeers", async (signal) =>
          (await dht.getClosestPeers(key, { signal, timeout })).map((p) => p.id)
        ),
      routingTableHas: (id) =>
        attempt(name, "routingTable.listPeers", async () =>
          (await dht.routingTable.listPeers()).some((entry) => entry.id.equals(id))
        ),
      refresh: attempt(name, "refresh", async () => {
        await dht.getClosestPeers(host.peerId.toMultihash().bytes, { timeout })
      })
    }
    return node
  })

/** Starts a node of either in-process implementation. */
export const startNode = (
  impl: HostImpl,
  name: string,
  role: Role
): Effect.Effect<DhtNode, InteropError, Scope.Scope> =>
  impl === "ours" ? startOurNode(name, role) : startJsNode(name, role)

/** What `connect` links: a node of any implementation, or a bare host such as the probe. */
export type Connectable = DhtNode | ExternalNode | Libp2p

const isExternal = (node: Connectable): node is ExternalNode => "dial" in node && "impl" in node
const isHostNode = (node: Connectable): node is DhtNode => "impl" in node && "host" in node
const hostOf = (node: DhtNode | Libp2p): Libp2p => (isHostNode(node) ? node.host : node)
const addressesOf = (node: Connectable): ReadonlyArray<Multiaddr> =>
  isExternal(node) ? node.addresses() : hostOf(node).getMultiaddrs()

/** Whether `host` has run identify with `peer` (its peer store then lists the peer's protocols). */
const identified = (host: Libp2p, peer: PeerId): Promise<boolean> =>
  host.peerStore.get(peer).then(
    (p) => p.protocols.length > 0,
    () => false
  )

/** Polls until `host` has identified `peer`. */
const untilIdentified = (host: Libp2p, peer: PeerId, signal: AbortSignal) =>
  (async () => {
    while (!(await identified(host, peer))) {
      signal.throwIfAborted()
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()

/**
 * Dials `to` from `from` by address and waits until identify has run both
 * ways, so each side knows which protocols the other serves. A peer
 * program dials by its `connect` command, which returns once it has
 * identified the other side; telling the dialed peer program to connect
 * back reuses the connection and waits for its own identify.
 */
export const connect = (from: Connectable, to: Connectable): Effect.Effect<void, InteropError> => {
  if (isExternal(from)) {
    return Effect.zipRight(
      from.dial(to.peerId, addressesOf(to)),
      isExternal(to)
        ? to.dial(from.peerId, from.addresses())
        : attempt(from.name, "connect", (signal) => untilIdentified(hostOf(to), from.peerId, signal))
    )
  }
  const a = hostOf(from)
  if (isExternal(to)) {
    return Effect.zipRight(
      attempt(a.peerId.toString(), "connect", async (signal) => {
        await a.dial([...to.addresses()], { signal })
        await untilIdentified(a, to.peerId, signal)
      }),
      to.dial(a.peerId, a.getMultiaddrs())
    )
  }
  const b = hostOf(to)
  return attempt(a.peerId.toString(), "connect", async (signal) => {
    await a.dial(b.getMultiaddrs(), { signal })
    while (!((await identified(a, b.peerId)) && (await identified(b, a.peerId)))) {
      signal.throwIfAborted()
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })
}
