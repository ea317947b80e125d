import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair } from "@libp2p/crypto/keys"
import type { Stream as Libp2pStream } from "@libp2p/interface"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Chunk, Deferred, Effect, Either, Exit, Fiber, Option, Queue, Scope, Stream } from "effect"
import * as varint from "uint8-varint"
import type { Uint8ArrayList } from "uint8arraylist"
import * as Libp2pNetwork from "../src/network/libp2p.js"
import type { NetworkShape, PeerEvent } from "../src/network/network.js"
import { DEFAULT_PROTOCOL, decodeMessage, encodeMessage, type Message, MessageType } from "../src/wire/codec.js"
import { FrameDecoder, frame } from "../src/wire/frame.js"
import {
  dhtStreams,
  echo,
  eventually,
  fail,
  type Host,
  keyText,
  makeHost,
  message,
  twoNodes,
  whenFinished
} from "./support/hosts.js"

/** Resolves when the remote closes its writing side (a graceful close). */
const whenRemoteClosedWrite = (stream: Libp2pStream): Promise<void> =>
  new Promise((resolve) => {
    if (stream.remoteWriteStatus === "closed") return resolve()
    stream.addEventListener("remoteCloseWrite", () => resolve(), { once: true })
  })

/** Collects the frames a raw stream receives. */
const collectFrames = (stream: Libp2pStream): Array<Uint8Array> => {
  const decoder = new FrameDecoder()
  const frames: Array<Uint8Array> = []
  stream.addEventListener("message", (event: { data: Uint8Array | Uint8ArrayList }) => {
    frames.push(...decoder.push(event.data))
  })
  return frames
}

/** Starts collecting `net`'s events matching `predicate`; join the fiber for the first one (10 s deadline). */
const firstEvent = (net: NetworkShape, predicate: (event: PeerEvent) => boolean) =>
  Effect.gen(function* () {
    const fiber = yield* net.events.pipe(
      Stream.filter(predicate),
      Stream.runHead,
      Effect.timeout("10 seconds"),
      Effect.forkScoped
    )
    // let the fiber subscribe before anything that could emit happens
    yield* Effect.sleep("50 millis")
    return fiber
  })

describe("Libp2pNetwork over real hosts", () => {
  it.scopedLive(
    "request/response between two hosts over the DHT protocol",
    () =>
      Effect.gen(function* () {
        const { a, b, netA, netB } = yield* twoNodes()
        const seen = yield* Queue.unbounded<Message>()
        yield* netA.serve(echo(seen))
        expect(netA.protocol).toBe(DEFAULT_PROTOCOL)
        expect(netA.self.equals(a.peerId)).toBe(true)

        const response = yield* netB.request(a.peerId, message(MessageType.FIND_NODE, "hello"))
        expect(response.type).toBe(MessageType.FIND_NODE)
        expect(keyText(response)).toBe("echo:hello")
        const received = yield* Queue.take(seen)
        expect(keyText(received)).toBe("hello")
        expect(yield* netB.isConnected(a.peerId)).toBe(true)
        expect(yield* netA.isConnected(b.peerId)).toBe(true)
      }),
    30_000
  )

  it.scopedLive(
    "sequential requests reuse one outbound stream, answered on one inbound stream",
    () =>
      Effect.gen(function* () {
        const a = yield* makeHost
        const b = yield* makeHost
        let dials = 0
        // the same node, with dialProtocol counted
        const countingB = new Proxy(b, {
          get(target, property) {
            if (property === "dialProtocol") {
              return (...args: Parameters<Host["dialProtocol"]>) => {
                dials++
                return target.dialProtocol(...args)
              }
            }
            const value = Reflect.get(target, property, target)
            return typeof value === "function" ? value.bind(target) : value
          }
        })
        const netA = yield* Libp2pNetwork.make(a)
        const netB = yield* Libp2pNetwork.make(countingB)
        yield* netB.rememberAddresses(yield* netA.selfInfo)
        yield* netA.serve(echo())

        for (let i = 0; i < 5; i++) {
          const response = yield* netB.request(a.peerId, message(MessageType.FIND_NODE, `k${i}`))
          expect(keyText(response)).toBe(`echo:k${i}`)
        }
        expect(dials).toBe(1)
        expect(dhtStreams(b, a.peerId)).toHaveLength(1)
        expect(dhtStreams(a, b.peerId)).toHaveLength(1)
      }),
    30_000
  )

  it.scopedLive(
    "a pooled stream the server closed is dropped and the next request opens a fresh one",
    () =>
      Effect.gen(function* () {
        const { a, b, netA, netB } = yield* twoNodes({
          inboundIdleTimeoutMillis: 300,
          outboundIdleTimeoutMillis: 20_000
        })
        yield* netA.serve(echo())
        yield* netB.request(a.peerId, message(MessageType.PING, "1"))
        const [first] = dhtStreams(b, a.peerId)
        expect(first).toBeDefined()
        yield* Effect.promise(() => whenFinished(first!))
        const response = yield* netB.request(a.peerId, message(MessageType.PING, "2"))
        expect(keyText(response)).toBe("echo:2")
        const streams = dhtStreams(b, a.peerId)
        expect(streams).toHaveLength(1)
        expect(streams[0]!.id).not.toBe(first!.id)
      }),
    30_000
  )

  it.scopedLive(
    "a reused stream reset before any response is retried once on a fresh stream",
    () =>
      Effect.gen(function* () {
        const a = yield* makeHost
        const b = yield* makeHost
        const protocol = "/test/reset-second/1.0.0"
        let streams = 0
        // answers the first request on each stream and resets the stream on the second
        yield* Effect.promise(() =>
          a.handle(protocol, (stream) => {
            streams++
            const decoder = new FrameDecoder()
            let requests = 0
            stream.addEventListener("message", (event: { data: Uint8Array | Uint8ArrayList }) => {
              for (const body of decoder.push(event.data)) {
                requests++
                if (requests > 1) return stream.abort(new Error("reset on purpose"))
                const request = Either.getOrThrow(decodeMessage(body))
                stream.send(frame(encodeMessage(message(MessageType.PING, `echo:${keyText(request)}`))))
              }
            })
          })
        )
        const net = yield* Libp2pNetwork.make(b, { protocol })
        yield* net.rememberAddresses({ id: a.peerId, multiaddrs: a.getMultiaddrs() })
        expect(keyText(yield* net.request(a.peerId, message(MessageType.PING, "1")))).toBe("echo:1")
        expect(keyText(yield* net.request(a.peerId, message(MessageType.PING, "2")))).toBe("echo:2")
        expect(streams).toBe(2)
      }),
    30_000
  )

  it.scopedLive(
    "several pipelined requests on one inbound stream are all answered in order",
    () =>
      Effect.gen(function* () {
        const { a, b, netA } = yield* twoNodes()
        yield* netA.serve(echo())
        const stream = yield* Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        const frames = collectFrames(stream)
        const requests = ["x", "y", "z"].map((k) => frame(encodeMessage(message(MessageType.FIND_NODE, k))))
        stream.send(Uint8Array.from(requests.flatMap((r) => [...r])))
        yield* eventually(Effect.suspend(() => (frames.length === 3 ? Effect.void : fail("waiting"))))
        const keys = frames.map((body) => keyText(Either.getOrThrow(decodeMessage(body))))
        expect(keys).toEqual(["echo:x", "echo:y", "echo:z"])
        // closing our side ends the server loop, which closes its side in turn
        yield* Effect.promise(() => stream.close())
        expect(yield* Effect.promise(() => whenFinished(stream))).toEqual({ reset: false })
      }),
    30_000
  )

  it.scopedLive(
    "a handler answering undefined: send() delivers, request() times out, the server keeps serving",
    () =>
      Effect.gen(function* () {
        const { a, netA, netB } = yield* twoNodes()
        const seen = yield* Queue.unbounded<Message>()
        yield* netA.serve(echo(seen))

        yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, "provided"))
        const delivered = yield* Queue.take(seen)
        expect(delivered.type).toBe(MessageType.ADD_PROVIDER)
        expect(keyText(delivered)).toBe("provided")

        const timedOut = yield* netB
          .request(a.peerId, message(MessageType.ADD_PROVIDER, "again"), { timeoutMillis: 400 })
          .pipe(Effect.flip)
        expect(timedOut._tag).toBe("TimeoutError")
        expect(timedOut._tag === "TimeoutError" && timedOut.millis).toBe(400)

        const after = yield* netB.request(a.peerId, message(MessageType.PING, "still there"))
        expect(keyText(after)).toBe("echo:still there")
      }),
    30_000
  )

  it.scopedLive(
    "an oversized frame makes the server reset that stream and keep serving others",
    () =>
      Effect.gen(function* () {
        const { a, b, netA, netB } = yield* twoNodes()
        yield* netA.serve(echo())
        const raw = yield* Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        // a length prefix of 5 MiB, over the 4 MiB limit; no body needed
        raw.send(varint.encode(5 * 1024 * 1024))
        expect(yield* Effect.promise(() => whenFinished(raw))).toEqual({ reset: true })

        const response = yield* netB.request(a.peerId, message(MessageType.FIND_NODE, "next"))
        expect(keyText(response)).toBe("echo:next")
      }),
    30_000
  )

  it.scopedLive(
    "garbage bytes make the server reset that stream and keep serving others",
    () =>
      Effect.gen(function* () {
        const { a, b, netA, netB } = yield* twoNodes()
        yield* netA.serve(echo())
        const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])
        expect(Either.isLeft(decodeMessage(garbage))).toBe(true)
        const raw = yield* Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        raw.send(frame(garbage))
        expect(yield* Effect.promise(() => whenFinished(raw))).toEqual({ reset: true })

        const response = yield* netB.request(a.peerId, message(MessageType.FIND_NODE, "next"))
        expect(keyText(response)).toBe("echo:next")
      }),
    30_000
  )

  it.scopedLive(
    "an idle inbound stream is closed gracefully; one idle inside a frame is reset",
    () =>
      Effect.gen(function* () {
        const { a, b, netA } = yield* twoNodes({ inboundIdleTimeoutMillis: 300 })
        yield* netA.serve(echo())
        const quiet = yield* Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        yield* Effect.promise(() => whenRemoteClosedWrite(quiet)).pipe(Effect.timeout("5 seconds"))
        expect(quiet.status).not.toBe("reset")

        const halfFrame = yield* Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        halfFrame.send(Uint8Array.of(100, 1, 2))
        const finished = yield* Effect.promise(() => whenFinished(halfFrame)).pipe(Effect.timeout("5 seconds"))
        expect(finished).toEqual({ reset: true })
      }),
    30_000
  )

  it.scopedLive(
    "the client fails with ProtocolError on a garbage or oversized response",
    () =>
      Effect.gen(function* () {
        const a = yield* makeHost
        const b = yield* makeHost
        const replies: Record<string, Uint8Array> = {
          "/test/garbage/1.0.0": frame(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])),
          "/test/oversized/1.0.0": varint.encode(5 * 1024 * 1024)
        }
        for (const [protocol, reply] of Object.entries(replies)) {
          yield* Effect.promise(() =>
            a.handle(protocol, (stream) => {
              stream.addEventListener("message", () => stream.send(reply), { once: true })
            })
          )
          const net = yield* Libp2pNetwork.make(b, { protocol })
          yield* net.rememberAddresses({ id: a.peerId, multiaddrs: a.getMultiaddrs() })
          const error = yield* net.request(a.peerId, message(MessageType.FIND_NODE, "q")).pipe(Effect.flip)
          expect(error._tag).toBe("ProtocolError")
          // the stream that carried the bad response was reset, not kept for reuse
          yield* eventually(
            Effect.suspend(() => (dhtStreams(b, a.peerId, protocol).length === 0 ? Effect.void : fail("open")))
          )
        }
      }),
    30_000
  )

  it.scopedLive(
    "requests to a stopped host, or one that does not speak the protocol, fail with typed errors",
    () =>
      Effect.gen(function* () {
        const { a, b, netB } = yield* twoNodes()
        // a serves nothing: its peer does not speak the DHT protocol
        const unsupported = yield* netB.request(a.peerId, message(MessageType.PING, "p")).pipe(Effect.flip)
        expect(unsupported._tag).toBe("ProtocolError")

        const gone = yield* makeHost
        const goneInfo = { id: gone.peerId, multiaddrs: gone.getMultiaddrs().map((ma) => multiaddr(ma.toString())) }
        yield* Effect.promise(async () => gone.stop())
        yield* netB.rememberAddresses(goneInfo)
        const requestError = yield* netB.request(gone.peerId, message(MessageType.PING, "p")).pipe(Effect.flip)
        expect(requestError._tag).toBe("TransientNetworkError")
        const sendError = yield* netB.send(gone.peerId, message(MessageType.ADD_PROVIDER, "p")).pipe(Effect.flip)
        expect(sendError._tag).toBe("TransientNetworkError")
        const connectError = yield* netB.connect(goneInfo).pipe(Effect.flip)
        expect(connectError._tag).toBe("TransientNetworkError")
        expect(yield* netB.isConnected(gone.peerId)).toBe(false)
        expect(b.getConnections(gone.peerId)).toHaveLength(0)
      }),
    30_000
  )

  it.scopedLive(
    "server mode is advertised through identify, client mode is not",
    () =>
      Effect.gen(function* () {
        const server = yield* makeHost
        const observer = yield* makeHost
        const client = yield* makeHost
        const netServer = yield* Libp2pNetwork.make(server)
        const netObserver = yield* Libp2pNetwork.make(observer)
        const netClient = yield* Libp2pNetwork.make(client)
        yield* netServer.serve(echo())
        const clientEvents = yield* Queue.unbounded<PeerEvent>()
        yield* netObserver.events.pipe(
          Stream.filter((event) => event._tag === "DhtServerSeen" && event.peer.id.equals(client.peerId)),
          Stream.runForEach((event) => Queue.offer(clientEvents, event)),
          Effect.forkScoped
        )
        const seen = yield* firstEvent(
          netObserver,
          (event) => event._tag === "DhtServerSeen" && event.peer.id.equals(server.peerId)
        )

        const observerInfo = yield* netObserver.selfInfo
        yield* netServer.connect(observerInfo)
        yield* netClient.connect(observerInfo)

        const event = yield* Fiber.join(seen)
        expect(Option.isSome(event)).toBe(true)
        const serverSeen = Option.getOrThrow(event)
        expect(serverSeen._tag === "DhtServerSeen" && serverSeen.peer.multiaddrs.length).toBeGreaterThan(0)

        // identify of the client has completed once its protocols are stored
        const clientProtocols = yield* eventually(
          Effect.tryPromise(() => observer.peerStore.get(client.peerId)).pipe(
            Effect.map((peer) => peer.protocols),
            Effect.filterOrFail((protocols) => protocols.length > 0)
          )
        )
        expect(clientProtocols).not.toContain(DEFAULT_PROTOCOL)
        const serverPeer = yield* Effect.promise(() => observer.peerStore.get(server.peerId))
        expect(serverPeer.protocols).toContain(DEFAULT_PROTOCOL)

        const servers = yield* netObserver.connectedServers
        expect(servers.map((peer) => peer.id.toString())).toEqual([server.peerId.toString()])
        expect(yield* Queue.size(clientEvents)).toBe(0)
      }),
    30_000
  )

  it.scopedLive(
    "closing the serve scope unregisters the protocol and peers see DhtServerGone",
    () =>
      Effect.gen(function* () {
        const { a, netA, netB } = yield* twoNodes()
        const serveScope = yield* Scope.make()
        const seen = yield* firstEvent(
          netB,
          (event) => event._tag === "DhtServerSeen" && event.peer.id.equals(a.peerId)
        )
        yield* netA.serve(echo()).pipe(Scope.extend(serveScope))
        expect(a.getProtocols()).toContain(DEFAULT_PROTOCOL)
        yield* netB.connect(yield* netA.selfInfo)
        expect(Option.isSome(yield* Fiber.join(seen))).toBe(true)

        const gone = yield* firstEvent(netB, (event) => event._tag === "DhtServerGone" && event.peer.equals(a.peerId))
        yield* Scope.close(serveScope, Exit.void)
        expect(a.getProtocols()).not.toContain(DEFAULT_PROTOCOL)
        expect(Option.isSome(yield* Fiber.join(gone))).toBe(true)
        expect(yield* netB.connectedServers).toEqual([])
        const error = yield* netB.request(a.peerId, message(MessageType.PING, "p")).pipe(Effect.flip)
        expect(error._tag).toBe("ProtocolError")
      }),
    30_000
  )

  it.scopedLive(
    "peer:disconnect becomes Disconnected, and a closed network stops publishing",
    () =>
      Effect.gen(function* () {
        const { a, b, netA, netB } = yield* twoNodes()
        yield* netB.connect(yield* netA.selfInfo)
        const disconnected = yield* firstEvent(netB, (event) => event._tag === "Disconnected")
        yield* Effect.promise(() => a.hangUp(b.peerId))
        const event = Option.getOrThrow(yield* Fiber.join(disconnected))
        expect(event._tag === "Disconnected" && event.peer.equals(a.peerId)).toBe(true)
        expect(yield* netB.isConnected(a.peerId)).toBe(false)

        // a network whose scope closed removed its listeners: its stream ends instead of hanging
        const types = ["peer:identify", "peer:update", "peer:disconnect"] as const
        const listeners = () => types.map((type) => b.listenerCount(type))
        const before = listeners()
        const scope = yield* Scope.make()
        const netC = yield* Libp2pNetwork.make(b).pipe(Scope.extend(scope))
        expect(listeners()).toEqual(before.map((n) => n + 1))
        const collected = yield* netC.events.pipe(Stream.runCollect, Effect.fork)
        yield* Effect.sleep("50 millis")
        yield* Scope.close(scope, Exit.void)
        const result = yield* Fiber.await(collected).pipe(Effect.timeout("5 seconds"))
        expect(Exit.isSuccess(result) ? Chunk.size(result.value) : -1).toBe(0)
        expect(listeners()).toEqual(before)
      }),
    30_000
  )

  it.scopedLive(
    "addresses are merged into the peer store; selfInfo lists listen addresses without /p2p",
    () =>
      Effect.gen(function* () {
        const { a, netA } = yield* twoNodes()
        const other = peerIdFromPrivateKey(yield* Effect.promise(() => generateKeyPair("Ed25519")))
        const first = multiaddr("/ip4/127.0.0.1/tcp/4001")
        const second = multiaddr("/ip4/127.0.0.1/tcp/4002")
        expect(yield* netA.addressesOf(other)).toEqual([])
        yield* netA.rememberAddresses({ id: other, multiaddrs: [first] })
        yield* netA.rememberAddresses({ id: other, multiaddrs: [second] })
        yield* netA.rememberAddresses({ id: other, multiaddrs: [] })
        const stored = (yield* netA.addressesOf(other)).map((ma) => ma.toString()).sort()
        expect(stored).toEqual([first.toString(), second.toString()])

        const self = yield* netA.selfInfo
        expect(self.id.equals(a.peerId)).toBe(true)
        expect(self.multiaddrs.length).toBeGreaterThan(0)
        for (const ma of self.multiaddrs) {
          expect(ma.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/)
        }
        expect(yield* netA.connectedServers).toEqual([])
      }),
    30_000
  )

  it.scopedLive(
    "runs on a js-libp2p service's components as well as on a node",
    () =>
      Effect.gen(function* () {
        const a = yield* makeHost
        const b = yield* makeHost
        const netA = yield* Libp2pNetwork.make(a.services.probe.components)
        const netB = yield* Libp2pNetwork.make(b.services.probe.components, { requestTimeoutMillis: 5_000 })
        yield* netA.serve(echo())
        expect(a.getProtocols()).toContain(DEFAULT_PROTOCOL)
        const seen = yield* firstEvent(
          netB,
          (event) => event._tag === "DhtServerSeen" && event.peer.id.equals(a.peerId)
        )
        yield* netB.connect(yield* netA.selfInfo)
        expect(Option.isSome(yield* Fiber.join(seen))).toBe(true)
        const response = yield* netB.request(a.peerId, message(MessageType.GET_VALUE, "v"))
        expect(keyText(response)).toBe("echo:v")
        expect((yield* netA.selfInfo).multiaddrs.length).toBeGreaterThan(0)
      }),
    30_000
  )

  it.scopedLive(
    "inbound streams beyond maxInboundStreams are refused",
    () =>
      Effect.gen(function* () {
        const { a, b, netA } = yield* twoNodes({ maxInboundStreams: 2 })
        const entered = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        // the handler blocks so the streams stay busy
        yield* netA.serve((_from, request) =>
          Deferred.succeed(entered, undefined).pipe(
            Effect.zipRight(Deferred.await(release)),
            Effect.as(message(MessageType.PING, keyText(request)))
          )
        )
        const open = () => Effect.promise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL))
        const first = yield* open()
        const second = yield* open()
        first.send(frame(encodeMessage(message(MessageType.PING, "1"))))
        yield* Deferred.await(entered)
        const third = yield* Effect.either(Effect.tryPromise(() => b.dialProtocol(a.peerId, DEFAULT_PROTOCOL)))
        if (Either.isRight(third)) {
          expect(yield* Effect.promise(() => whenFinished(third.right))).toEqual({ reset: true })
        }
        expect(first.status).toBe("open")
        expect(second.status).toBe("open")
        yield* Deferred.succeed(release, undefined)
      }),
    30_000
  )

  it.effect("rejects invalid options with InvalidOptionError", () =>
    Effect.gen(function* () {
      const host = {} as Libp2pNetwork.Libp2pHostLike
      const bad = yield* Libp2pNetwork.make(host, { requestTimeoutMillis: 0 }).pipe(Effect.scoped, Effect.flip)
      expect(bad._tag).toBe("InvalidOptionError")
      expect(bad.field).toBe("requestTimeoutMillis")
      const protocol = yield* Libp2pNetwork.make(host, { protocol: "kad" }).pipe(Effect.scoped, Effect.flip)
      expect(protocol.field).toBe("protocol")
    })
  )
})
