/**
 * One-way messages (ADD_PROVIDER) over the pooled streams of the libp2p
 * `Network`: many to one peer share a stream, a request after them still
 * reads its own response, and a dead pooled stream costs one retry, never a
 * message.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Queue } from "effect"
import type { Uint8ArrayList } from "uint8arraylist"
import * as Libp2pNetwork from "../src/network/libp2p.js"
import { decodeMessage, encodeMessage, type Message, MessageType } from "../src/wire/codec.js"
import { FrameDecoder, frame } from "../src/wire/frame.js"
import {
  countOpenedStreams,
  dhtStreams,
  echo,
  keyText,
  makeHost,
  message,
  twoNodes,
  whenFinished
} from "./support/hosts.js"

/** Two hosts: `a` echoes and records every message it reads; the kad streams `b` opens are counted. */
const echoingPair = Effect.gen(function* () {
  const nodes = yield* twoNodes()
  const seen = yield* Queue.unbounded<Message>()
  yield* nodes.netA.serve(echo(seen))
  return { ...nodes, seen, streams: countOpenedStreams(nodes.b) }
})

describe("one-way messages over pooled streams", () => {
  it.scopedLive(
    "many ADD_PROVIDERs to one peer travel on one stream, in order; a request after them reads its own response",
    () =>
      Effect.gen(function* () {
        const { a, b, netB, seen, streams } = yield* echoingPair

        const keys = Array.from({ length: 50 }, (_, i) => `provided ${i}`)
        for (const key of keys) yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, key))
        const delivered = yield* Queue.takeN(seen, keys.length)
        expect([...delivered].map(keyText)).toEqual(keys)
        expect(streams.opened).toBe(1)
        expect(dhtStreams(b, a.peerId)).toHaveLength(1)
        expect(dhtStreams(a, b.peerId)).toHaveLength(1)

        // the server answered none of them, so the next frame on the stream is this request's answer
        const response = yield* netB.request(a.peerId, message(MessageType.FIND_NODE, "after"))
        expect(response.type).toBe(MessageType.FIND_NODE)
        expect(keyText(response)).toBe("echo:after")
        yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, "last"))
        expect(keyText(yield* Queue.take(seen))).toBe("after")
        expect(keyText(yield* Queue.take(seen))).toBe("last")
        expect(streams.opened).toBe(1)
      }),
    30_000
  )

  it.scopedLive(
    "concurrent ADD_PROVIDERs to one peer open no more streams than run at once",
    () =>
      Effect.gen(function* () {
        const { a, netB, seen, streams } = yield* echoingPair

        const keys = Array.from({ length: 200 }, (_, i) => `provided ${i}`)
        yield* Effect.forEach(keys, (key) => netB.send(a.peerId, message(MessageType.ADD_PROVIDER, key)), {
          concurrency: 4,
          discard: true
        })
        const delivered = yield* Queue.takeN(seen, keys.length)
        expect([...delivered].map(keyText).sort()).toEqual([...keys].sort())
        expect(streams.opened).toBeGreaterThanOrEqual(1)
        expect(streams.opened).toBeLessThanOrEqual(4)
      }),
    30_000
  )

  it.scopedLive(
    "a pooled stream that fails the write is retried once on a fresh stream; a second failure reaches the caller",
    () =>
      Effect.gen(function* () {
        const { a, b, netB, seen, streams } = yield* echoingPair
        // the transport under a pooled stream gives way, which the stream cannot know before writing
        const breakPooledStream = () => {
          const [pooled] = dhtStreams(b, a.peerId)
          expect(pooled).toBeDefined()
          pooled!.send = () => {
            throw new Error("transport gone")
          }
          return pooled!
        }

        yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, "first"))
        expect(keyText(yield* Queue.take(seen))).toBe("first")
        const broken = breakPooledStream()
        yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, "second"))
        expect(keyText(yield* Queue.take(seen))).toBe("second")
        expect(streams.opened).toBe(2)
        // the broken stream was reset, not kept
        expect(yield* Effect.promise(() => whenFinished(broken))).toEqual({ reset: true })

        breakPooledStream()
        streams.failing = true
        const error = yield* netB.send(a.peerId, message(MessageType.ADD_PROVIDER, "third")).pipe(Effect.flip)
        expect(error._tag).toBe("TransientNetworkError")
        expect(error.message).toContain("dialing refused by the test")
        expect(yield* Queue.size(seen)).toBe(0)
      }),
    30_000
  )

  it.scopedLive(
    "a peer that answers a one-way message late does not hand that answer to the next request",
    () =>
      Effect.gen(function* () {
        const a = yield* makeHost
        const b = yield* makeHost
        const protocol = "/test/answers-add-provider/1.0.0"
        // answers an ADD_PROVIDER after all, just before its answer to the next request on the stream
        yield* Effect.promise(() =>
          a.handle(protocol, (stream) => {
            const decoder = new FrameDecoder()
            let held: Uint8Array | undefined
            stream.addEventListener("message", (event: { data: Uint8Array | Uint8ArrayList }) => {
              for (const body of decoder.push(event.data)) {
                const request = Either.getOrThrow(decodeMessage(body))
                const answer = frame(
                  encodeMessage(message(request.type ?? MessageType.PUT_VALUE, `echo:${keyText(request)}`))
                )
                if (request.type === MessageType.ADD_PROVIDER) {
                  held = answer
                  continue
                }
                if (held !== undefined) stream.send(held)
                held = undefined
                stream.send(answer)
              }
            })
          })
        )
        const net = yield* Libp2pNetwork.make(b, { protocol })
        yield* net.rememberAddresses({ id: a.peerId, multiaddrs: a.getMultiaddrs() })
        const streams = countOpenedStreams(b)

        yield* net.send(a.peerId, message(MessageType.ADD_PROVIDER, "provided"))
        const response = yield* net.request(a.peerId, message(MessageType.PING, "ping"))
        expect(response.type).toBe(MessageType.PING)
        expect(keyText(response)).toBe("echo:ping")
        // the stream carrying the stray answer was given up for a fresh one
        expect(streams.opened).toBe(2)
      }),
    30_000
  )
})
