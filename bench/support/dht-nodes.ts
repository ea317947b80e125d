/**
 * DHT nodes for the operations suite: a loopback libp2p host running this
 * project's DHT or @libp2p/kad-dht in server mode, behind one Promise
 * interface, with a count of the DHT messages the node itself sends.
 *
 * Counting: both DHTs open their outbound streams through the host's
 * connection manager (`openStream`), and both write each framed message
 * with the stream's `send`. The counter wraps `openStream` on the host and,
 * on every stream it opens for the DHT protocol, `send`, splitting what is
 * written into frames with core's decoder. So a message is counted when the
 * node writes it, whether on a fresh stream or on one it reuses, and
 * answers to other nodes (written on inbound streams) are not counted.
 *
 * @module
 */
import { FrameDecoder, NamespacedValidator, type Validator } from "@effect-kad/core"
import {
  DHTMode,
  filterLocalhostInResponses,
  type IpfsDHT,
  type KadDHTService,
  mode,
  kadDHT as ourKadDHT,
  validator
} from "@effect-kad/dht"
import type { AbortOptions, PeerId, Stream } from "@libp2p/interface"
import { type KadDHT, passthroughMapper, kadDHT as theirKadDHT } from "@libp2p/kad-dht"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { type Impl, PROTOCOL, startHost } from "./hosts.js"

/** The record namespace of the put/get benchmark: keys are `/bench/<name>`. */
export const BENCH_NAMESPACE = "bench"

/** Accepts every record; the first of several is the best. */
const permissive: Validator = { validate: () => undefined, select: () => 0 }

/** Messages and streams a node has sent and opened for the DHT protocol since it started. */
export interface OutboundCount {
  messages: number
  streams: number
}

/** Deadline of one operation; a lookup among 100 loopback nodes takes well under a second. */
const OPERATION_TIMEOUT_MILLIS = 30_000

/** One node, driven the same way whichever DHT it runs. */
export interface BenchNode {
  readonly impl: Impl
  readonly host: Libp2p
  readonly peerId: PeerId
  readonly sent: OutboundCount
  /** Whether a lookup finds `id`'s addresses (this node's peer store is not consulted first). */
  readonly findPeer: (id: PeerId) => Promise<boolean>
  /** The closest peers to `key` a lookup ends with. */
  readonly getClosestPeers: (key: Uint8Array) => Promise<ReadonlyArray<PeerId>>
  /** Announces this node as a provider of `cid`; resolves when the announcement is sent. */
  readonly provide: (cid: CID) => Promise<void>
  /** Runs a provider lookup to its end; `onProvider` is called with each provider as it arrives. */
  readonly findProviders: (cid: CID, onProvider: (id: PeerId) => void) => Promise<void>
  /** Stores a value under a `/bench/` key on the closest peers. */
  readonly put: (key: Uint8Array, value: Uint8Array) => Promise<void>
  /** The value the network holds for a key, after a lookup run to its end; undefined when none. */
  readonly get: (key: Uint8Array) => Promise<Uint8Array | undefined>
}

interface ConnectionManagerLike {
  openStream(peer: unknown, protocols: unknown, options?: AbortOptions): Promise<Stream>
}

/** Wraps the host's `openStream` so that every DHT stream it opens counts the frames written on it. */
const countOutbound = (host: Libp2p): OutboundCount => {
  const count: OutboundCount = { messages: 0, streams: 0 }
  // The connection manager is not part of the public Libp2p type; both DHTs reach it through the same components.
  const manager = (host as unknown as { components: { connectionManager: ConnectionManagerLike } }).components
    .connectionManager
  const openStream = manager.openStream.bind(manager)
  manager.openStream = async (peer, protocols, options) => {
    const stream = await openStream(peer, protocols, options)
    if (stream.protocol === PROTOCOL) {
      count.streams++
      const send = stream.send.bind(stream)
      const decoder = new FrameDecoder()
      stream.send = (data) => {
        count.messages += decoder.push(data).length
        return send(data)
      }
    }
    return stream
  }
  return count
}

const withTimeout = () => ({ signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS) })

/**
 * Forgets what this node's peer store knows of `id`, so that finding it
 * takes a lookup for both DHTs (ours answers from the peer store when it
 * can; theirs is asked with `useCache: false`).
 */
const forget = async (host: Libp2p, id: PeerId): Promise<void> => {
  try {
    await host.peerStore.delete(id)
  } catch {
    // not known, or refused: the lookup runs all the same for theirs, and ours finds it from the store
  }
}

/** A host running this project's DHT (the js-libp2p service) in server mode. */
export const startOurNode = async (): Promise<BenchNode> => {
  const host = await startHost(
    ourKadDHT([
      mode(DHTMode.server),
      filterLocalhostInResponses(false),
      validator(new NamespacedValidator({ [BENCH_NAMESPACE]: permissive }))
    ])
  )
  const sent = countOutbound(host)
  const dht: IpfsDHT = (host.services.dht as KadDHTService).dht
  const options = { timeout: OPERATION_TIMEOUT_MILLIS }
  return {
    impl: "ours",
    host,
    peerId: host.peerId,
    sent,
    findPeer: async (id) => {
      await forget(host, id)
      return (await dht.findPeer(id, options)) !== null
    },
    getClosestPeers: async (key) => (await dht.getClosestPeers(key, options)).map((p) => p.id),
    provide: (cid) => dht.provide(cid, true, options),
    findProviders: async (cid, onProvider) => {
      for await (const provider of dht.findProvidersAsync(cid, 0, options)) onProvider(provider.id)
    },
    put: (key, value) => dht.putValue(key, value, options),
    get: async (key) => (await dht.getValue(key, options)) ?? undefined
  }
}

/**
 * A host running @libp2p/kad-dht as the benchmarks configure it (the passthrough
 * mapper keeps loopback addresses, server mode from the start) with a
 * permissive `/bench/` validator and selector.
 */
export const startTheirNode = async (): Promise<BenchNode> => {
  const host = await startHost(
    theirKadDHT({
      protocol: PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      validators: { [BENCH_NAMESPACE]: async () => {} },
      selectors: { [BENCH_NAMESPACE]: () => 0 }
    })
  )
  const sent = countOutbound(host)
  const dht = host.services.dht as KadDHT
  const isNotFound = (error: unknown) => error instanceof Error && error.name === "NotFoundError"
  return {
    impl: "theirs",
    host,
    peerId: host.peerId,
    sent,
    findPeer: async (id) => {
      await forget(host, id)
      try {
        for await (const event of dht.findPeer(id, { ...withTimeout(), useCache: false })) {
          // stop at the first answer naming the peer, as ours does
          if (event.name === "FINAL_PEER" && event.peer.id.equals(id)) return true
        }
        return false
      } catch (error) {
        if (isNotFound(error)) return false
        throw error
      }
    },
    getClosestPeers: async (key) => {
      const peers: Array<PeerId> = []
      for await (const event of dht.getClosestPeers(key, withTimeout())) {
        if (event.name === "FINAL_PEER") peers.push(event.peer.id)
      }
      return peers
    },
    provide: async (cid) => {
      for await (const _ of dht.provide(cid, withTimeout()));
    },
    findProviders: async (cid, onProvider) => {
      for await (const event of dht.findProviders(cid, withTimeout())) {
        if (event.name === "PROVIDER") for (const provider of event.providers) onProvider(provider.id)
      }
    },
    put: async (key, value) => {
      for await (const _ of dht.put(key, value, withTimeout()));
    },
    get: async (key) => {
      let best: Uint8Array | undefined
      try {
        // VALUE events come as values are found, the best one last; the lookup runs to its end
        for await (const event of dht.get(key, withTimeout())) if (event.name === "VALUE") best = event.value
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
      return best
    }
  }
}

/** Starts a node of either implementation. */
export const startBenchNode = (impl: Impl): Promise<BenchNode> => (impl === "ours" ? startOurNode() : startTheirNode())
