/**
 * Hosts of the adversity suite's loopback network: servers and clients of
 * this project's DHT and of @libp2p/kad-dht on 127.0.0.1, one Promise
 * interface for both, a count of the DHT messages each sends, a switch that
 * makes a server silent or slow without the DHT knowing, and a probe that
 * asks servers what they store.
 *
 * Silent and slow are implementation-agnostic: they act on the host's
 * handler for `/ipfs/kad/1.0.0`, not on the DHT.
 *
 * - silent: the protocol handler is replaced (registrar `handle` with
 *   `force: true`; no `unhandle` first, which would tell every peer by
 *   identify push that the protocol is gone) by one that reads nothing and
 *   answers nothing, keeping the stream open until the remote gives up (at
 *   most 60 s, then it is aborted). DHT streams the host already had open
 *   are paused: what arrives on them is never read.
 * - slow: the original handler runs, but every answer it writes leaves
 *   2–5 s later (a random delay per answer, in order; closing the stream
 *   waits for them). Per answer, not per stream, so a client that reuses
 *   streams (ours) waits as long as one that opens a stream per request
 *   (kad-dht). Streams already open are slowed the same way.
 *
 * @module
 */
import {
  decodeMessage,
  encodeMessage,
  FrameDecoder,
  frame,
  type Message,
  MessageType,
  NamespacedValidator,
  type Validator
} from "@effect-kad/core"
import {
  DHTMode,
  filterLocalhostInResponses,
  type IpfsDHT,
  type KadDHTService,
  mode,
  kadDHT as ourKadDHT,
  validator
} from "@effect-kad/dht"
import type { AbortOptions, Connection, PeerId, Stream } from "@libp2p/interface"
import { type KadDHT, passthroughMapper, kadDHT as theirKadDHT } from "@libp2p/kad-dht"
import type { Libp2p } from "libp2p"
import type { CID } from "multiformats/cid"
import { FrameExchange } from "./frames.js"
import { type Impl, PROTOCOL, startHost } from "./hosts.js"

/** The record namespace of put/get: keys are `/bench/<name>`. */
export const BENCH_NAMESPACE = "bench"

/** Whether a node answers DHT requests (and advertises the protocol) or only asks. */
export type Role = "server" | "client"

/** How a server answers DHT requests. */
export type Behaviour =
  | { readonly _tag: "normal" }
  | { readonly _tag: "silent" }
  | { readonly _tag: "slow"; readonly minMillis: number; readonly maxMillis: number }

/** Longest a silent server keeps a stream it never answers. */
const SILENT_STREAM_MAX_MILLIS = 60_000

/** Messages and streams a node has sent and opened for the DHT protocol since it started. */
export interface OutboundCount {
  messages: number
  streams: number
}

/** One node, driven the same way whichever DHT it runs. Every operation takes the caller's deadline. */
export interface AdversityNode {
  readonly impl: Impl
  readonly role: Role
  readonly name: string
  readonly host: Libp2p
  readonly peerId: PeerId
  readonly sent: OutboundCount
  readonly getClosestPeers: (key: Uint8Array, signal: AbortSignal) => Promise<ReadonlyArray<PeerId>>
  /** The first provider a provider lookup yields (the lookup stops there), or undefined when it ends with none. */
  readonly firstProvider: (cid: CID, signal: AbortSignal) => Promise<PeerId | undefined>
  readonly getValue: (key: Uint8Array, signal: AbortSignal) => Promise<Uint8Array | undefined>
  readonly provide: (cid: CID, signal: AbortSignal) => Promise<void>
  readonly putValue: (key: Uint8Array, value: Uint8Array, signal: AbortSignal) => Promise<void>
  /** Peers in the DHT's routing table. */
  readonly tableSize: () => Promise<number>
}

interface ConnectionManagerLike {
  openStream(peer: unknown, protocols: unknown, options?: AbortOptions): Promise<Stream>
}

/** Counts the frames written on every DHT stream the host opens (as bench/support/dht-nodes.ts does). */
const countOutbound = (host: Libp2p): OutboundCount => {
  const count: OutboundCount = { messages: 0, streams: 0 }
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

/** Accepts every record; the first of several is the best. */
const permissive: Validator = { validate: () => undefined, select: () => 0 }

const isNotFound = (error: unknown) => error instanceof Error && error.name === "NotFoundError"

/** A host running this project's DHT (the js-libp2p service), default options but mode and localhost filter. */
const startOurs = async (name: string, role: Role, deadlineMillis: number): Promise<AdversityNode> => {
  const host = await startHost(
    ourKadDHT([
      mode(role === "server" ? DHTMode.server : DHTMode.client),
      filterLocalhostInResponses(false),
      validator(new NamespacedValidator({ [BENCH_NAMESPACE]: permissive }))
    ])
  )
  const sent = countOutbound(host)
  const dht: IpfsDHT = (host.services.dht as KadDHTService).dht
  const options = (signal: AbortSignal) => ({ signal, timeout: deadlineMillis })
  return {
    impl: "ours",
    role,
    name,
    host,
    peerId: host.peerId,
    sent,
    getClosestPeers: async (key, signal) => (await dht.getClosestPeers(key, options(signal))).map((p) => p.id),
    firstProvider: async (cid, signal) => {
      for await (const provider of dht.findProvidersAsync(cid, 0, options(signal))) return provider.id
      return undefined
    },
    getValue: async (key, signal) => {
      try {
        return (await dht.getValue(key, options(signal))) ?? undefined
      } catch (error) {
        if (isNotFound(error)) return undefined
        throw error
      }
    },
    provide: (cid, signal) => dht.provide(cid, true, options(signal)),
    putValue: (key, value, signal) => dht.putValue(key, value, options(signal)),
    tableSize: async () => (await dht.routingTable.listPeers()).length
  }
}

/** A host running @libp2p/kad-dht configured for loopback (passthrough mapper, explicit mode). */
const startTheirs = async (name: string, role: Role): Promise<AdversityNode> => {
  const host = await startHost(
    theirKadDHT({
      protocol: PROTOCOL,
      clientMode: role === "client",
      peerInfoMapper: passthroughMapper,
      validators: { [BENCH_NAMESPACE]: async () => {} },
      selectors: { [BENCH_NAMESPACE]: () => 0 }
    })
  )
  const sent = countOutbound(host)
  const dht = host.services.dht as KadDHT
  const table = (dht as unknown as { routingTable: { size: number } }).routingTable
  return {
    impl: "theirs",
    role,
    name,
    host,
    peerId: host.peerId,
    sent,
    getClosestPeers: async (key, signal) => {
      const peers: Array<PeerId> = []
      for await (const event of dht.getClosestPeers(key, { signal })) {
        if (event.name === "FINAL_PEER") peers.push(event.peer.id)
      }
      return peers
    },
    firstProvider: async (cid, signal) => {
      for await (const event of dht.findProviders(cid, { signal })) {
        if (event.name === "PROVIDER" && event.providers.length > 0) return event.providers[0].id
      }
      return undefined
    },
    getValue: async (key, signal) => {
      let best: Uint8Array | undefined
      try {
        for await (const event of dht.get(key, { signal })) if (event.name === "VALUE") best = event.value
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
      return best
    },
    provide: async (cid, signal) => {
      for await (const _ of dht.provide(cid, { signal }));
    },
    putValue: async (key, value, signal) => {
      for await (const _ of dht.put(key, value, { signal }));
    },
    tableSize: async () => table.size
  }
}

/** Starts a node of either implementation in either role. */
export const startAdversityNode = (
  impl: Impl,
  role: Role,
  name: string,
  deadlineMillis: number
): Promise<AdversityNode> => (impl === "ours" ? startOurs(name, role, deadlineMillis) : startTheirs(name, role))

type Handler = (stream: Stream, connection: Connection) => void | Promise<void>

interface RegistrarLike {
  getHandler(protocol: string): { handler: Handler; options: Record<string, unknown> }
  handle(protocol: string, handler: Handler, options?: Record<string, unknown>): Promise<void>
}

/**
 * Switches how a server host answers the DHT protocol. Built once the DHT
 * has started (it reads the handler the DHT registered).
 */
export class AnswerSwitch {
  private readonly registrar: RegistrarLike
  private readonly original: { handler: Handler; options: Record<string, unknown> }
  /** Undo actions of every stream this switch touched (paused, slowed or kept silent). */
  private readonly touched = new Map<Stream, () => void>()
  current: Behaviour = { _tag: "normal" }

  constructor(
    private readonly host: Libp2p,
    private readonly random: () => number
  ) {
    this.registrar = (host as unknown as { components: { registrar: RegistrarLike } }).components.registrar
    this.original = this.registrar.getHandler(PROTOCOL)
  }

  /** DHT streams other peers opened to this host that are still open. */
  private inboundStreams(): Array<Stream> {
    return this.host
      .getConnections()
      .flatMap((c) => c.streams)
      .filter((s) => s.direction === "inbound" && s.protocol === PROTOCOL && s.status === "open")
  }

  /** Keeps `stream` open, unread and unanswered, until the remote gives up (aborted after 60 s at most). */
  private silence(stream: Stream): void {
    if (this.touched.has(stream)) this.touched.get(stream)?.()
    try {
      stream.pause()
    } catch {
      // closing already: nothing to silence
    }
    const timer = setTimeout(() => stream.abort(new Error("silent peer drops the stream")), SILENT_STREAM_MAX_MILLIS)
    timer.unref()
    const onClose = () => {
      clearTimeout(timer)
      this.touched.delete(stream)
    }
    stream.addEventListener("close", onClose, { once: true })
    this.touched.set(stream, () => {
      clearTimeout(timer)
      stream.removeEventListener("close", onClose)
      // the remote has given up on it by now; a silent peer never answers it late
      stream.abort(new Error("silence over"))
    })
  }

  /** Delays every answer written on `stream` by a random 2–5 s, in order; close waits for them. */
  private slow(stream: Stream, minMillis: number, maxMillis: number): void {
    if (this.touched.has(stream)) return
    const send = stream.send
    const close = stream.close
    const timers = new Map<NodeJS.Timeout, () => void>()
    let lastDue = 0
    let pending: Promise<void> = Promise.resolve()
    stream.send = (data) => {
      const due = Math.max(lastDue, Date.now() + minMillis + this.random() * (maxMillis - minMillis))
      lastDue = due
      pending = new Promise<void>((resolve) => {
        const fire = () => {
          timers.delete(timer)
          try {
            if (stream.status === "open") send.call(stream, data)
          } catch {
            // the remote gave up and reset the stream meanwhile
          }
          resolve()
        }
        const timer = setTimeout(fire, due - Date.now())
        timer.unref()
        timers.set(timer, fire)
      })
      return true
    }
    stream.close = async (options) => {
      await pending
      return close.call(stream, options)
    }
    const onClose = () => this.touched.delete(stream)
    stream.addEventListener("close", onClose, { once: true })
    this.touched.set(stream, () => {
      stream.removeEventListener("close", onClose)
      stream.send = send
      stream.close = close
      // answers still waiting go out now, so nothing written is lost
      for (const [timer, fire] of [...timers]) {
        clearTimeout(timer)
        fire()
      }
    })
  }

  /** Applies `behaviour` from now on, to new streams and to those already open. */
  async set(behaviour: Behaviour): Promise<void> {
    for (const undo of [...this.touched.values()]) undo()
    this.touched.clear()
    this.current = behaviour
    const { handler, options } = this.original
    if (behaviour._tag === "normal") {
      await this.registrar.handle(PROTOCOL, handler, { ...options, force: true })
      return
    }
    if (behaviour._tag === "silent") {
      await this.registrar.handle(PROTOCOL, (stream) => this.silence(stream), { ...options, force: true })
      for (const stream of this.inboundStreams()) this.silence(stream)
      return
    }
    const { minMillis, maxMillis } = behaviour
    await this.registrar.handle(
      PROTOCOL,
      (stream, connection) => {
        this.slow(stream, minMillis, maxMillis)
        return handler(stream, connection)
      },
      { ...options, force: true }
    )
    for (const stream of this.inboundStreams()) this.slow(stream, minMillis, maxMillis)
  }
}

/**
 * Asks `server` directly, from a DHT-less probe host, whether it stores
 * `provider` as a provider of `multihash` (GET_PROVIDERS) or a value under
 * `key` (GET_VALUE). Bounded by `timeoutMillis`; an unanswered question
 * counts as not held.
 */
export const probeHolds = async (
  probe: Libp2p,
  server: Libp2p,
  question:
    | { readonly kind: "provider"; readonly multihash: Uint8Array; readonly provider: PeerId }
    | { readonly kind: "value"; readonly key: Uint8Array; readonly value: Uint8Array },
  timeoutMillis = 3_000
): Promise<boolean> => {
  const signal = AbortSignal.timeout(timeoutMillis)
  let exchange: FrameExchange | undefined
  try {
    exchange = new FrameExchange(await probe.dialProtocol(server.getMultiaddrs(), PROTOCOL, { signal }))
    const request: Partial<Message> =
      question.kind === "provider"
        ? { type: MessageType.GET_PROVIDERS, key: new Uint8Array(question.multihash) }
        : { type: MessageType.GET_VALUE, key: new Uint8Array(question.key) }
    const pending = exchange.request(frame(encodeMessage({ ...request, closerPeers: [], providerPeers: [] })))
    const body = await Promise.race([
      pending,
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new Error("probe timed out"))))
    ])
    const decoded = decodeMessage(body)
    if (decoded._tag === "Left") return false
    if (question.kind === "provider") {
      const wanted = question.provider.toMultihash().bytes
      return decoded.right.providerPeers.some((p) => p.id !== undefined && bytesEqual(p.id, wanted))
    }
    const value = decoded.right.record?.value
    return value !== undefined && bytesEqual(value, question.value)
  } catch {
    return false
  } finally {
    if (exchange !== undefined) void exchange.close()
  }
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])
