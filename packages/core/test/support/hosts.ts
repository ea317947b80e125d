/**
 * Real libp2p hosts on 127.0.0.1 for the libp2p `Network` tests, and the
 * messages, handlers and stream probes those tests share.
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { identify, identifyPush } from "@libp2p/identify"
import type { Stream as Libp2pStream, PeerId } from "@libp2p/interface"
import { tcp } from "@libp2p/tcp"
import { Effect, Queue, Schedule, type Scope } from "effect"
import { createLibp2p, type Libp2p } from "libp2p"
import * as Libp2pNetwork from "../../src/network/libp2p.js"
import type { RequestHandler } from "../../src/network/network.js"
import { DEFAULT_PROTOCOL, type Message, MessageType } from "../../src/wire/codec.js"

export type Host = Libp2p<{ probe: { readonly components: Libp2pNetwork.Libp2pComponentsLike } }>

/** A real host on 127.0.0.1 (TCP, Noise, Yamux, Identify and Identify Push), stopped with the scope. */
export const makeHost: Effect.Effect<Host, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    createLibp2p({
      addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        identifyPush: identifyPush(),
        // exposes the components js-libp2p gives a service, to test that adapter
        probe: (components: Libp2pNetwork.Libp2pComponentsLike) => ({ components })
      }
    })
  ),
  (node) => Effect.promise(async () => node.stop())
)

export const message = (type: MessageType, key: string): Message => ({
  type,
  key: new TextEncoder().encode(key),
  closerPeers: [],
  providerPeers: []
})

export const keyText = (m: Message): string => new TextDecoder().decode(m.key)

/** Answers FIND_NODE and PING with the request's key; says nothing to ADD_PROVIDER. */
export const echo =
  (seen?: Queue.Queue<Message>): RequestHandler =>
  (_from, request) =>
    Effect.gen(function* () {
      if (seen !== undefined) yield* Queue.offer(seen, request)
      if (request.type === MessageType.ADD_PROVIDER) return undefined
      return { ...message(request.type ?? MessageType.PING, `echo:${keyText(request)}`) }
    })

/** Two hosts with a network each; `b` knows `a`'s addresses. */
export const twoNodes = (options: Libp2pNetwork.Libp2pNetworkOptions = {}) =>
  Effect.gen(function* () {
    const a = yield* makeHost
    const b = yield* makeHost
    const netA = yield* Libp2pNetwork.make(a, options)
    const netB = yield* Libp2pNetwork.make(b, options)
    yield* netB.rememberAddresses(yield* netA.selfInfo)
    return { a, b, netA, netB }
  })

/** The open streams of `protocol` between `node` and `peer`. */
export const dhtStreams = (node: Libp2p, peer: PeerId, protocol = DEFAULT_PROTOCOL): Array<Libp2pStream> =>
  node
    .getConnections(peer)
    .flatMap((connection) => connection.streams)
    .filter((stream) => stream.protocol === protocol)

/**
 * Counts the streams `node` opens from now on (every outbound DHT stream
 * goes through `dialProtocol`); `failing` makes further opens fail.
 */
export const countOpenedStreams = (node: Libp2p) => {
  const counter = { opened: 0, failing: false }
  const dial = node.dialProtocol.bind(node)
  node.dialProtocol = (...args: Parameters<Libp2p["dialProtocol"]>) => {
    if (counter.failing) return Promise.reject(new Error("dialing refused by the test"))
    counter.opened++
    return dial(...args)
  }
  return counter
}

/** Resolves when the stream is finished: `reset` when it was reset or aborted rather than closed. */
export const whenFinished = (stream: Libp2pStream): Promise<{ readonly reset: boolean }> =>
  new Promise((resolve) => {
    if (stream.status === "reset" || stream.status === "aborted") return resolve({ reset: true })
    if (stream.status === "closed") return resolve({ reset: false })
    stream.addEventListener("close", (event) => resolve({ reset: event.error !== undefined }), { once: true })
  })

export const eventually = <A>(check: Effect.Effect<A, unknown>) =>
  check.pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds"))), Effect.orDie)

export const fail = (reason: string) => Effect.fail(new Error(reason))
