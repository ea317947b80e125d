/**
 * An in-memory simulated network: many DHT nodes in one process, talking
 * through the same `Network` contract as real libp2p hosts, with injectable
 * latency, message loss and node failure. Used by property tests and by
 * simulations of thousands of nodes.
 *
 * Messages go through the real codec on the way (unless disabled), so what
 * the simulation exercises is what goes on the wire.
 *
 * @module
 */
import type { PeerId } from "@libp2p/interface"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import { ProtocolError, TimeoutError, TransientNetworkError } from "../errors.js"
import { decodeMessage, encodeMessage, MAX_MESSAGE_SIZE, type Message } from "../wire/codec.js"
import type { PeerInfo } from "../wire/peer.js"
import { Network, type NetworkShape, type PeerEvent, type RequestHandler, type RequestOptions } from "./network.js"

/** Behaviour of the simulated links. */
export interface MemoryNetworkOptions {
  /** One-way delay of a message from `from` to `to`, in milliseconds (default 0). */
  readonly latencyMillis?: (from: PeerId, to: PeerId) => number
  /** Probability in [0, 1] that a single message is lost (default 0). */
  readonly lossRate?: number
  /** Round trip each message through the protobuf codec (default true). */
  readonly encode?: boolean
  /** Default per-request timeout in milliseconds (default 10 s). */
  readonly requestTimeoutMillis?: number
}

/**
 * How a simulated node answers DHT requests, to model the public network's
 * misbehaving peers: `silent` keeps its connections but never answers
 * (requests to it run into their timeout), `slow` answers after an extra
 * delay.
 */
export type AnswerBehaviour =
  | { readonly _tag: "normal" }
  | { readonly _tag: "silent" }
  | { readonly _tag: "slow"; readonly delayMillis: number }

interface SimNode {
  readonly id: PeerId
  readonly key: string
  readonly addrs: ReadonlyArray<Multiaddr>
  handler: RequestHandler | undefined
  /** Runs the handling of a one-way message in the fibers of the node's `serve` scope. */
  runInbound: ((effect: Effect.Effect<void>) => unknown) | undefined
  alive: boolean
  behaviour: AnswerBehaviour
  readonly peerStore: Map<string, { readonly id: PeerId; readonly addrs: Array<Multiaddr> }>
  readonly connections: Set<string>
  readonly events: PubSub.PubSub<PeerEvent>
}

/** Traffic counters of a simulated network. */
export interface MemoryNetworkStats {
  requests: number
  oneWay: number
  bytes: number
  lost: number
  failed: number
}

/**
 * The shared medium of a simulation. Create one hub, then give every node a
 * {@link Network} with {@link MemoryNetworkHub.layer}.
 *
 * @example
 * ```ts
 * const hub = new MemoryNetworkHub({ latencyMillis: () => 20 })
 * const program = myDhtProgram.pipe(Effect.provide(hub.layer(peerId)))
 * ```
 */
export class MemoryNetworkHub {
  private readonly nodes = new Map<string, SimNode>()
  private nextAddress = 0
  readonly stats: MemoryNetworkStats = { requests: 0, oneWay: 0, bytes: 0, lost: 0, failed: 0 }

  constructor(readonly options: MemoryNetworkOptions = {}) {}

  /** Number of nodes currently attached and alive. */
  get liveNodes(): number {
    let n = 0
    for (const node of this.nodes.values()) if (node.alive) n++
    return n
  }

  /** IDs of the attached nodes that are alive. */
  livePeers(): Array<PeerId> {
    return [...this.nodes.values()].filter((n) => n.alive).map((n) => n.id)
  }

  /**
   * Simulates a crash: the node stops answering and its peers see a
   * disconnect. It stays attached so {@link revive} can bring it back.
   */
  kill(peer: PeerId): Effect.Effect<void> {
    return Effect.suspend(() => {
      const node = this.nodes.get(peer.toString())
      if (node === undefined || !node.alive) return Effect.void
      node.alive = false
      return this.dropConnections(node)
    })
  }

  /** Sets how a node answers requests from now on (see {@link AnswerBehaviour}). */
  setBehaviour(peer: PeerId, behaviour: AnswerBehaviour): void {
    const node = this.nodes.get(peer.toString())
    if (node !== undefined) node.behaviour = behaviour
  }

  /** Brings a killed node back. */
  revive(peer: PeerId): void {
    const node = this.nodes.get(peer.toString())
    if (node !== undefined) node.alive = true
  }

  /**
   * A {@link Network} for the node `id`, attached to this hub for the life
   * of the layer's scope.
   */
  layer(id: PeerId, addrs?: ReadonlyArray<Multiaddr>): Layer.Layer<Network> {
    return Layer.scoped(Network, this.attach(id, addrs))
  }

  /** Attaches a node and returns its network; detached when the scope closes. */
  attach(id: PeerId, addrs?: ReadonlyArray<Multiaddr>) {
    return Effect.acquireRelease(
      Effect.gen(this, function* () {
        const key = id.toString()
        if (this.nodes.has(key)) {
          return yield* Effect.dieMessage(`peer ${key} is already attached to this hub`)
        }
        const node: SimNode = {
          id,
          key,
          addrs: addrs ?? [multiaddr(`/memory/${this.nextAddress++}`)],
          handler: undefined,
          runInbound: undefined,
          alive: true,
          behaviour: { _tag: "normal" },
          peerStore: new Map(),
          connections: new Set(),
          events: yield* PubSub.unbounded<PeerEvent>()
        }
        this.nodes.set(key, node)
        return node
      }),
      (node) =>
        Effect.gen(this, function* () {
          node.alive = false
          yield* this.dropConnections(node)
          this.nodes.delete(node.key)
          yield* PubSub.shutdown(node.events)
        })
    ).pipe(Effect.map((node) => this.networkOf(node)))
  }

  private dropConnections(node: SimNode): Effect.Effect<void> {
    return Effect.forEach(
      [...node.connections],
      (otherKey) => {
        node.connections.delete(otherKey)
        const other = this.nodes.get(otherKey)
        if (other === undefined) return Effect.void
        other.connections.delete(node.key)
        return PubSub.publish(other.events, { _tag: "Disconnected", peer: node.id })
      },
      { discard: true }
    )
  }

  /** Publishes `event` to every node connected to `node`. */
  private tellConnected(node: SimNode, event: PeerEvent): Effect.Effect<void> {
    return Effect.forEach(
      [...node.connections],
      (key) => {
        const other = this.nodes.get(key)
        return other === undefined ? Effect.void : PubSub.publish(other.events, event)
      },
      { discard: true }
    )
  }

  private infoOf(node: SimNode): PeerInfo {
    return { id: node.id, multiaddrs: node.addrs }
  }

  /** Opens the simulated connection and lets each side learn whether the other is a DHT server. */
  private connectNodes(from: SimNode, to: SimNode): Effect.Effect<void> {
    if (from.connections.has(to.key)) return Effect.void
    from.connections.add(to.key)
    to.connections.add(from.key)
    remember(from, this.infoOf(to))
    remember(to, this.infoOf(from))
    return Effect.all(
      [
        to.handler !== undefined
          ? PubSub.publish(from.events, { _tag: "DhtServerSeen", peer: this.infoOf(to) })
          : Effect.void,
        from.handler !== undefined
          ? PubSub.publish(to.events, { _tag: "DhtServerSeen", peer: this.infoOf(from) })
          : Effect.void
      ],
      { discard: true }
    )
  }

  /** Delivers one message across the simulated link: latency, loss, codec. */
  private transmit(from: SimNode, to: SimNode, message: Message): Effect.Effect<Message | "lost", ProtocolError> {
    return Effect.gen(this, function* () {
      const latency = this.options.latencyMillis?.(from.id, to.id) ?? 0
      if (latency > 0) yield* Effect.sleep(latency)
      const lossRate = this.options.lossRate ?? 0
      if (lossRate > 0 && (yield* Random.next) < lossRate) {
        this.stats.lost++
        return "lost" as const
      }
      if (this.options.encode === false) return message
      const bytes = encodeMessage(message)
      this.stats.bytes += bytes.byteLength
      if (bytes.byteLength > MAX_MESSAGE_SIZE) {
        return yield* new ProtocolError({ peer: from.key, reason: `message of ${bytes.byteLength} bytes is too large` })
      }
      const decoded = decodeMessage(bytes)
      if (decoded._tag === "Left") {
        return yield* new ProtocolError({ peer: from.key, reason: decoded.left.message })
      }
      return decoded.right
    })
  }

  private reach(from: SimNode, peer: PeerId): Effect.Effect<SimNode, TransientNetworkError> {
    const to = this.nodes.get(peer.toString())
    if (!from.alive) {
      return Effect.fail(new TransientNetworkError({ peer: peer.toString(), reason: "local node is down" }))
    }
    if (to === undefined || !to.alive) {
      this.stats.failed++
      return Effect.fail(new TransientNetworkError({ peer: peer.toString(), reason: "connection refused" }))
    }
    return Effect.succeed(to)
  }

  private networkOf(node: SimNode): NetworkShape {
    const hub = this
    const timeoutOf = (options?: RequestOptions) => options?.timeoutMillis ?? hub.options.requestTimeoutMillis ?? 10_000
    const withTimeout = <A, E>(peer: PeerId, effect: Effect.Effect<A, E>, options?: RequestOptions) => {
      const millis = timeoutOf(options)
      return Effect.timeoutFail(effect, {
        duration: millis,
        onTimeout: () => new TimeoutError({ operation: `request to ${peer.toString()}`, millis })
      })
    }
    const lostUntilTimeout = Effect.never

    const request: NetworkShape["request"] = (peer, message, options) =>
      withTimeout(
        peer,
        Effect.gen(function* () {
          const to = yield* hub.reach(node, peer)
          yield* hub.connectNodes(node, to)
          const handler = to.handler
          if (handler === undefined) {
            hub.stats.failed++
            return yield* new TransientNetworkError({ peer: to.key, reason: "protocol not supported" })
          }
          hub.stats.requests++
          options?.onSent?.()
          const delivered = yield* Effect.mapError(hub.transmit(node, to, message), (e) => toRemote(e, to.key))
          if (delivered === "lost") return yield* lostUntilTimeout
          if (to.behaviour._tag === "silent") return yield* lostUntilTimeout
          if (to.behaviour._tag === "slow") yield* Effect.sleep(to.behaviour.delayMillis)
          const response = yield* Effect.mapError(
            handler(node.id, delivered),
            // a refusal resets the stream, which the requester sees as a failed exchange
            (refused) => new TransientNetworkError({ peer: to.key, reason: `stream reset: ${refused.reason}` })
          )
          if (response === undefined) return yield* lostUntilTimeout
          const back = yield* hub.transmit(to, node, response)
          if (back === "lost") return yield* lostUntilTimeout
          return back
        }),
        options
      )

    const send: NetworkShape["send"] = (peer, message, options) =>
      withTimeout(
        peer,
        Effect.gen(function* () {
          const to = yield* hub.reach(node, peer)
          yield* hub.connectNodes(node, to)
          const handler = to.handler
          const runInbound = to.runInbound
          if (handler === undefined || runInbound === undefined) {
            return yield* new TransientNetworkError({ peer: to.key, reason: "protocol not supported" })
          }
          hub.stats.oneWay++
          const delivered = yield* Effect.mapError(hub.transmit(node, to, message), (e) => toRemote(e, to.key))
          if (delivered === "lost" || to.behaviour._tag === "silent") return
          // the receiver processes it on its own time, until it stops serving; the sender does not wait
          runInbound(Effect.ignore(handler(node.id, delivered)))
        }),
        options
      )

    const serve: NetworkShape["serve"] = (handler) =>
      Effect.gen(function* () {
        // one-way messages are handled in fibers of this scope, as a libp2p server's streams are: stopping ends them
        const runInbound = yield* FiberSet.makeRuntime<never, void, never>()
        yield* Effect.acquireRelease(
          Effect.suspend(() => {
            node.handler = handler
            node.runInbound = runInbound
            // peers connected to us now see a DHT server, as identify-push would tell them
            return hub.tellConnected(node, { _tag: "DhtServerSeen", peer: hub.infoOf(node) })
          }),
          () =>
            Effect.suspend(() => {
              node.handler = undefined
              node.runInbound = undefined
              return hub.tellConnected(node, { _tag: "DhtServerGone", peer: node.id })
            })
        )
      })

    return {
      self: node.id,
      protocol: "/ipfs/kad/1.0.0",
      request,
      send,
      serve,
      addressesOf: (peer) => Effect.sync(() => [...(node.peerStore.get(peer.toString())?.addrs ?? [])]),
      rememberAddresses: (peer) => Effect.sync(() => remember(node, peer)),
      selfInfo: Effect.sync(() => hub.infoOf(node)),
      connectedServers: Effect.sync(() =>
        [...node.connections]
          .map((key) => hub.nodes.get(key))
          .filter((other): other is SimNode => other?.alive === true && other.handler !== undefined)
          .map((other) => hub.infoOf(other))
      ),
      isConnected: (peer) => Effect.sync(() => node.connections.has(peer.toString())),
      connectionAddressesOf: (peer) =>
        Effect.sync(() => {
          const other = hub.nodes.get(peer.toString())
          return other !== undefined && node.connections.has(other.key) ? other.addrs : []
        }),
      connectedPeers: Effect.sync(() =>
        [...node.connections].map((key) => hub.nodes.get(key)?.id).filter((id): id is PeerId => id !== undefined)
      ),
      // a simulated connection tells both sides each other's protocols as it opens
      awaitIdentified: () => Effect.void,
      connect: (peer, options) =>
        withTimeout(
          peer.id,
          Effect.flatMap(hub.reach(node, peer.id), (to) => hub.connectNodes(node, to)),
          options
        ),
      events: Stream.fromPubSub(node.events)
    }
  }
}

const remember = (node: SimNode, peer: PeerInfo): void => {
  const key = peer.id.toString()
  if (key === node.key) return
  const entry = node.peerStore.get(key)
  if (entry === undefined) {
    node.peerStore.set(key, { id: peer.id, addrs: [...peer.multiaddrs] })
    return
  }
  for (const addr of peer.multiaddrs) {
    if (!entry.addrs.some((known) => known.equals(addr))) entry.addrs.push(addr)
  }
}

const toRemote = (error: ProtocolError, peer: string): ProtocolError =>
  new ProtocolError({ peer, reason: error.reason, cause: error })
