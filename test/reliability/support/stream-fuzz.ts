/**
 * Stream-level fuzzing of a DHT server on a loopback host: a hostile peer
 * opens stream after stream and writes random bytes, frames of mutated
 * messages, valid requests and mixtures of them, in random chunks, then
 * waits for whatever the server does (answer, close, reset, idle timeout).
 * Shared by the fast suite (a few hundred streams) and the soak suite.
 */
import { encodeMessage, FrameDecoder, frame } from "@effect-kad/core"
import type { Stream } from "@libp2p/interface"
import { multiaddr } from "@multiformats/multiaddr"
import fc from "fast-check"
import { createLoopbackHost, dialableAddress } from "../../support/hosts.js"
import { type DhtHost, openDhtStreams, rawStream, servedDhtStreams, startDhtHost, waitFor } from "./dht-hosts.js"
import { hostileBytesArb, messageArb } from "./messages.js"

/** What the server did with the fuzzed streams. */
export interface StreamFuzzFigures {
  readonly streams: number
  readonly bytesSent: number
  /** Streams on which the server sent at least one well-formed response frame. */
  readonly answered: number
  /** Streams the server reset (bad frame, oversized prefix, idle inside a frame). */
  readonly reset: number
  /** Streams the server closed gracefully (idle timeout, or after the remote closed). */
  readonly closed: number
  /** Streams the attacker could not even open (the server or libp2p refused them), and why. */
  readonly openFailed: number
  readonly openErrors: ReadonlyArray<string>
  /** Streams on which the server did nothing visible within four idle timeouts (must be 0). */
  readonly gaveUp: number
  /** Streams the server reset right after they were negotiated (a stream cap refusing them). */
  readonly resetAtOpen: number
  /** How many streams had run, and how many of them the server had closed gracefully, before the first reset at open. */
  readonly firstResetAtOpenAfter: { readonly streams: number; readonly closed: number } | undefined
  /** Streams the server no longer serves but that are still open (half-closed) when the run ended. */
  readonly halfOpenOnServer: number
  /** Streams still open on the server when the run ended (must be 0). */
  readonly leftServed: number
  /** Honest FIND_NODE probes sent between batches, and how many were answered. */
  readonly probes: number
  readonly probesAnswered: number
}

/** One stream's script: chunks to write, and whether to close our side afterwards. */
interface Script {
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly closeAfter: boolean
}

const scriptArb = (pool: Parameters<typeof hostileBytesArb>[0]): fc.Arbitrary<Script> => {
  const framed = fc.oneof(
    hostileBytesArb(pool).map((bytes) => frame(bytes)),
    messageArb(pool).map((m) => frame(encodeMessage(m))),
    hostileBytesArb(pool)
  )
  return fc
    .record({
      parts: fc.array(framed, { minLength: 1, maxLength: 4 }),
      cuts: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }),
      closeAfter: fc.boolean()
    })
    .map(({ parts, cuts, closeAfter }) => {
      const whole = Buffer.concat(parts)
      const chunks: Array<Uint8Array> = []
      let offset = 0
      for (let i = 0; offset < whole.byteLength; i++) {
        const size = cuts[i % cuts.length] * 8
        chunks.push(whole.subarray(offset, offset + size))
        offset += size
      }
      return { chunks, closeAfter }
    })
}

/** What the server did with one stream. */
interface Outcome {
  readonly answered: boolean
  readonly reset: boolean
  readonly closed: boolean
  readonly resetAtOpen?: boolean
  readonly gaveUp?: boolean
}

/** Plays one script and resolves with what the server did, within `patienceMillis`. */
const play = (stream: Stream, script: Script, patienceMillis: number) =>
  new Promise<Outcome>((resolve) => {
    // the server may have reset the stream between negotiation and now: no close event will come
    if (stream.status === "reset" || stream.status === "aborted") {
      resolve({ answered: false, reset: true, closed: false, resetAtOpen: true })
      return
    }
    const decoder = new FrameDecoder()
    let answered = false
    const finish = (reset: boolean, closed: boolean) => {
      clearTimeout(timer)
      resolve({ answered, reset, closed })
    }
    const timer = setTimeout(() => {
      stream.abort(new Error("fuzzer gave up waiting"))
      clearTimeout(timer)
      resolve({ answered, reset: false, closed: false, gaveUp: true })
    }, patienceMillis)
    stream.addEventListener("message", (event) => {
      try {
        if (decoder.push(event.data).length > 0) answered = true
      } catch {
        // a server answer that does not frame would be a finding; the caller counts answers only
      }
    })
    stream.addEventListener("close", (event) => finish(event.error !== undefined, event.error === undefined), {
      once: true
    })
    stream.addEventListener("remoteCloseWrite", () => finish(false, true), { once: true })
    for (const chunk of script.chunks) {
      if (stream.status !== "open" || stream.writeStatus !== "writable") break
      stream.send(chunk)
    }
    if (script.closeAfter && stream.status === "open") stream.close().catch(() => undefined)
  })

/**
 * Sends `streams` fuzzed streams to a fresh server, `concurrency` at a time,
 * with an honest FIND_NODE from another host after every batch. Stops the
 * server and hosts before returning.
 */
export const fuzzStreams = async (
  streams: number,
  concurrency: number,
  idleMillis = 1_000
): Promise<StreamFuzzFigures> => {
  const server: DhtHost = await startDhtHost({ network: { inboundIdleTimeoutMillis: idleMillis } })
  const honest = await startDhtHost({ bootstrap: [server.host] })
  const attacker = await createLoopbackHost()
  try {
    const pool = [server.host.peerId, honest.host.peerId, attacker.peerId]
    // Connect first and let identify finish: js-libp2p 3.3 can lose a fresh connection to a burst of
    // concurrent dialProtocol calls (its muxer closes while the connection stays listed as open), which
    // would test libp2p, not the server.
    await attacker.dial(multiaddr(dialableAddress(server.host)))
    await new Promise((resolve) => setTimeout(resolve, 500))
    const scripts = fc.sample(scriptArb(pool), streams)
    let answered = 0
    let reset = 0
    let closed = 0
    let bytesSent = 0
    let probes = 0
    let probesAnswered = 0
    let openFailed = 0
    let gaveUp = 0
    let resetAtOpen = 0
    let firstResetAtOpenAfter: { readonly streams: number; readonly closed: number } | undefined
    const openErrors: Array<string> = []
    for (let start = 0; start < scripts.length; start += concurrency) {
      const batch = scripts.slice(start, start + concurrency)
      const outcomes = await Promise.all(
        batch.map(async (script) => {
          bytesSent += script.chunks.reduce((n, c) => n + c.byteLength, 0)
          const stream = await rawStream(attacker, server.host).catch((error: unknown) => {
            openFailed++
            if (openErrors.length < 3) openErrors.push(String(error))
            return undefined
          })
          if (stream === undefined) return { answered: false, reset: false, closed: false } satisfies Outcome
          return play(stream, script, idleMillis * 4)
        })
      )
      for (const o of outcomes) {
        if (o.answered) answered++
        if (o.reset) reset++
        if (o.closed) closed++
        if (o.resetAtOpen === true) {
          if (resetAtOpen === 0) firstResetAtOpenAfter = { streams: start, closed }
          resetAtOpen++
        }
        if (o.gaveUp === true) {
          gaveUp++
        }
      }
      probes++
      const closest = await honest.dht
        .getClosestPeers(crypto.getRandomValues(new Uint8Array(32)), { timeout: 10_000 })
        .catch(() => [])
      if (closest.some((p) => p.id.equals(server.host.peerId))) probesAnswered++
    }
    await waitFor(() => servedDhtStreams(server.host, attacker) === 0, idleMillis * 4)
    return {
      streams,
      bytesSent,
      answered,
      reset,
      closed,
      leftServed: servedDhtStreams(server.host, attacker),
      openFailed,
      openErrors,
      gaveUp,
      resetAtOpen,
      firstResetAtOpenAfter,
      halfOpenOnServer: openDhtStreams(server.host, attacker),
      probes,
      probesAnswered
    }
  } finally {
    await attacker.stop()
    await honest.stop()
    await server.stop()
  }
}
