/**
 * A full DHT server on a real loopback host against a hostile peer that
 * speaks the raw protocol: oversized and endless length prefixes, frames
 * that do not decode, a slowloris trickle, streams that never say
 * anything, and a flood of held-open streams over two connections. The
 * server cuts each of them by its limits and timeouts, caps the flood per
 * peer, and an honest peer's lookups, puts and gets go on meanwhile.
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeMessage, FrameDecoder, frame, MAX_MESSAGE_SIZE, MessageType } from "@effect-kad/core"
import type { Stream } from "@libp2p/interface"
import { multiaddr } from "@multiformats/multiaddr"
import type { Libp2p } from "libp2p"
import { afterEach } from "vitest"
import { createLoopbackHost, dialableAddress } from "../support/hosts.js"
import { varint } from "../support/varint.js"
import {
  type DhtHost,
  openDhtStreams,
  rawStream,
  servedDhtStreams,
  startDhtHost,
  waitFor,
  whenFinished,
  whenRemoteDone
} from "./support/dht-hosts.js"
import { report } from "./support/report.js"
import { fuzzStreams } from "./support/stream-fuzz.js"

const PROTOCOL = "/ipfs/kad/1.0.0"
const IDLE_MILLIS = 1_500
const STREAM_CAP = 16

const nodes: Array<DhtHost> = []
const hosts: Array<Libp2p> = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop()
  for (const host of hosts.splice(0)) await host.stop()
})

const within = <A>(promise: Promise<A>, millis: number, what: string): Promise<A> =>
  Promise.race([
    promise,
    new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${millis} ms`)), millis))
  ])

const encoder = new TextEncoder()

/** Sends a FIND_NODE on a raw stream and resolves with the decoded response frame. */
const rawFindNode = (stream: Stream): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const decoder = new FrameDecoder()
    stream.addEventListener("message", (event) => {
      const [body] = decoder.push(event.data)
      if (body !== undefined) resolve(body)
    })
    stream.addEventListener("close", () => reject(new Error("closed before a response")), { once: true })
    stream.send(
      frame(
        encodeMessage({ type: MessageType.FIND_NODE, key: encoder.encode("k"), closerPeers: [], providerPeers: [] })
      )
    )
  })

describe("a DHT server under hostile streams on loopback", () => {
  it("malformed, slow and silent streams are cut by the limits and the idle timeout; the server keeps serving", async () => {
    const server = await startDhtHost({
      network: { inboundIdleTimeoutMillis: IDLE_MILLIS, maxInboundStreams: STREAM_CAP }
    })
    nodes.push(server)
    const attacker = await createLoopbackHost()
    hosts.push(attacker)
    const started = Date.now()

    // a length prefix past 4 MiB: reset as soon as the prefix is read, with no body ever sent
    const oversized = await rawStream(attacker, server.host)
    oversized.send(varint(MAX_MESSAGE_SIZE + 1))
    expect(await within(whenFinished(oversized), 5_000, "oversized reset")).toEqual({ reset: true })

    // a prefix that never ends
    const endless = await rawStream(attacker, server.host)
    endless.send(new Uint8Array(8).fill(0xff))
    expect(await within(whenFinished(endless), 5_000, "endless prefix reset")).toEqual({ reset: true })

    // a well-framed body that is not a DHT message
    const garbage = await rawStream(attacker, server.host)
    garbage.send(frame(Uint8Array.of(0x08, 0x63, 0xff, 0xff, 0xff, 0xff, 0x0f)))
    expect(await within(whenFinished(garbage), 5_000, "garbage reset")).toEqual({ reset: true })

    // slowloris: a 1000-byte frame trickled one byte every 200 ms would take 200 s
    const slow = await rawStream(attacker, server.host)
    slow.send(varint(1000))
    let trickled = 0
    const trickle = setInterval(() => {
      if (slow.status !== "open" || slow.writeStatus !== "writable") return
      slow.send(Uint8Array.of(0))
      trickled++
    }, 200)
    const slowStart = Date.now()
    try {
      expect(await within(whenFinished(slow), 10_000, "slowloris cut")).toEqual({ reset: true })
    } finally {
      clearInterval(trickle)
    }
    const slowCut = Date.now() - slowStart
    expect(slowCut).toBeGreaterThanOrEqual(IDLE_MILLIS - 100)
    expect(trickled).toBeLessThan(1000)

    // silent: opened, never written to; closed by the server after the idle timeout
    const silent = await rawStream(attacker, server.host)
    const silentStart = Date.now()
    await within(whenRemoteDone(silent), 10_000, "silent stream closed")
    const silentCut = Date.now() - silentStart

    // after all that, the same attacker connection still gets answers to a proper request
    const answer = await within(rawFindNode(await rawStream(attacker, server.host)), 5_000, "answer")
    expect(answer.byteLength).toBeGreaterThan(0)
    report("streams: malformed and slow", {
      faults: 5,
      slowlorisCutMillis: slowCut,
      bytesTrickled: trickled,
      silentCutMillis: silentCut,
      totalMillis: Date.now() - started
    })
  }, 60_000)

  it("a flood of held-open streams from one peer over two connections is capped per peer, without starving an honest peer", async () => {
    const server = await startDhtHost({
      network: { inboundIdleTimeoutMillis: IDLE_MILLIS * 2, maxInboundStreams: STREAM_CAP }
    })
    nodes.push(server)
    const honest = await startDhtHost({ bootstrap: [server.host] })
    nodes.push(honest)
    const attacker = await createLoopbackHost()
    hosts.push(attacker)

    const started = Date.now()
    const address = multiaddr(dialableAddress(server.host))
    const first = await attacker.dial(address)
    const second = await attacker.dial(address, { force: true })
    // let identify settle before the burst (see support/stream-fuzz.ts for the js-libp2p race it avoids)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const connections = attacker.getConnections(server.host.peerId).length
    // several connections from one peer are what a per-connection cap alone would let through
    expect(connections).toBeGreaterThanOrEqual(1)

    const attempts = 3 * STREAM_CAP
    const streams: Array<Stream> = []
    let refusedOpen = 0
    const opening = Array.from({ length: attempts }, (_, i) =>
      (i % 2 === 0 ? first : second)
        .newStream(PROTOCOL)
        .then((stream) => void streams.push(stream))
        .catch(() => void refusedOpen++)
    )
    await Promise.all(opening)
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, servedDhtStreams(server.host, attacker))
    }, 20)

    try {
      // while the flood holds its streams, the honest peer works normally
      const honestStart = Date.now()
      const closest = await honest.dht.getClosestPeers(crypto.getRandomValues(new Uint8Array(32)), {
        timeout: 10_000
      })
      expect(closest.length).toBeGreaterThanOrEqual(1)
      await honest.dht.putValue("/v/during-flood", encoder.encode("1:ok"), { timeout: 10_000 })
      const value = await server.dht.getValue("/v/during-flood", { timeout: 10_000 })
      expect(new TextDecoder().decode(value ?? new Uint8Array())).toBe("1:ok")
      const honestMillis = Date.now() - honestStart

      await new Promise((resolve) => setTimeout(resolve, 300))
      const held = servedDhtStreams(server.host, attacker)
      expect(held).toBeLessThanOrEqual(STREAM_CAP)
      expect(peak).toBeLessThanOrEqual(STREAM_CAP)
      expect(peak).toBeGreaterThan(0)

      // the held streams idle out: the server stops serving every one of them
      const releaseStart = Date.now()
      const released = await waitFor(() => servedDhtStreams(server.host, attacker) === 0, 20_000)
      expect(released).toBe(true)
      const releaseMillis = Date.now() - releaseStart
      report("streams: flood from one peer", {
        connections,
        streamsAttempted: attempts,
        refusedAtOpen: refusedOpen,
        peakHeldOnServer: peak,
        cap: STREAM_CAP,
        honestOpsMillis: honestMillis,
        releaseMillis,
        totalMillis: Date.now() - started
      })
    } finally {
      clearInterval(sampler)
    }
  }, 90_000)

  it("120 fuzzed streams (random bytes, mutated frames, random chunking): the server survives and keeps answering", async () => {
    const figures = await fuzzStreams(120, 20)
    report("streams: fuzzed", { ...figures })
    expect(figures.openFailed).toBe(0)
    expect(figures.gaveUp).toBe(0)
    expect(figures.leftServed).toBe(0)
    expect(figures.probesAnswered).toBe(figures.probes)
    expect(figures.answered).toBeGreaterThan(0)
    expect(figures.reset).toBeGreaterThan(0)
  }, 90_000)

  // at the idle timeout the server closes its side, then resets a stream whose remote has not
  // finished within one more idle period, so half-open streams do not pile up on a connection
  it("an inbound stream whose remote never closes is released after the idle timeout", async () => {
    const server = await startDhtHost({
      network: { inboundIdleTimeoutMillis: IDLE_MILLIS, maxInboundStreams: STREAM_CAP }
    })
    nodes.push(server)
    const attacker = await createLoopbackHost()
    hosts.push(attacker)
    const silent = await rawStream(attacker, server.host)
    await within(whenRemoteDone(silent), 10_000, "server closed its side")
    expect(servedDhtStreams(server.host, attacker)).toBe(0)
    // three more idle timeouts: ample time to give up on a remote that will never finish
    const released = await waitFor(() => openDhtStreams(server.host, attacker) === 0, IDLE_MILLIS * 3)
    expect(released).toBe(true)
  }, 30_000)
})
