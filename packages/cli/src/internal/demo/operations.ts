/**
 * The operations the demo runs: every operation of the developer guide,
 * each called from a node other than the one that published, checked for a
 * right answer and measured (latency, requests the caller sent).
 *
 * @module
 */
import { compareDistance, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import type { PeerInfo } from "@effect-kad/dht"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { OperationError } from "../../errors.js"
import { call, type KadNode } from "../../kad-node.js"
import { encodeCliValue } from "../../values.js"
import { demoBucketSize } from "./network.js"

/** The outcome of one run of one operation. */
export interface Sample {
  readonly ok: boolean
  readonly millis: number
  /** DHT requests the calling node sent during the run. */
  readonly requests: number
  /** A number the operation reports (peers found, estimate), for the detail column. */
  readonly metric?: number
  readonly error?: string
}

/** What an operation found: whether it is right, and a number to report. */
interface Outcome {
  readonly ok: boolean
  readonly metric?: number
  readonly failure?: string
}

/** One operation of the demo: how to run it, and how to sum up its metrics. */
export interface Operation {
  readonly name: string
  readonly run: (ctx: RunContext, signal: AbortSignal) => Promise<Outcome>
  /** The node whose requests are counted: the caller. */
  readonly caller: (ctx: RunContext) => KadNode
  readonly detail: (samples: ReadonlyArray<Sample>, ctx: { readonly nodes: number; readonly k: number }) => string
}

/** The nodes and data of one run, shared by the operations that depend on each other. */
export interface RunContext {
  readonly run: number
  readonly nodes: ReadonlyArray<KadNode>
  readonly publisher: KadNode
  readonly querier: KadNode
  readonly searcher: KadNode
  readonly cid: CID
  readonly key: string
  readonly value: Uint8Array
  readonly namespace: string
  readonly lookupKey: Uint8Array
  readonly k: number
}

const encoder = new TextEncoder()

const sameBytes = (a: Uint8Array | null | undefined, b: Uint8Array): boolean =>
  a != null && a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])

/** The mean of `values`; NaN when empty. */
export const mean = (values: ReadonlyArray<number>): number =>
  values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length

const metrics = (samples: ReadonlyArray<Sample>): Array<number> =>
  samples.flatMap((s) => (s.ok && s.metric !== undefined ? [s.metric] : []))

const collect = async <A>(iterable: AsyncIterable<A>, limit = Number.POSITIVE_INFINITY): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const item of iterable) {
    out.push(item)
    if (out.length >= limit) break
  }
  return out
}

const includesPeer = (peers: ReadonlyArray<PeerInfo>, node: KadNode): boolean =>
  peers.some((peer) => peer.id.equals(node.host.peerId))

/** The `count` peers of `nodes` closest to `key` by XOR distance, as peer ID strings. */
const trueClosest = (nodes: ReadonlyArray<KadNode>, key: Uint8Array, count: number): Array<string> => {
  const target = kadIdOfKey(key)
  return nodes
    .map((node) => ({ id: node.host.peerId, kad: kadIdOfPeer(node.host.peerId) }))
    .sort((a, b) => compareDistance(a.kad, b.kad, target))
    .slice(0, count)
    .map((entry) => entry.id.toString())
}

/** The operations of the developer guide, in the order the table lists them. */
export const operations: ReadonlyArray<Operation> = [
  {
    name: "findPeer",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const found = await ctx.querier.dht.findPeer(ctx.publisher.host.peerId, { signal })
      return found !== null && found.multiaddrs.length > 0
        ? { ok: true, metric: found.multiaddrs.length }
        : { ok: false, failure: "peer not found" }
    },
    detail: (samples) => {
      const known = samples.filter((s) => s.ok && s.requests === 0).length
      return known === 0 ? "addresses of another node" : `${known} answered from the peer store, no lookup needed`
    }
  },
  {
    name: "getClosestPeers",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const peers = await ctx.querier.dht.getClosestPeers(ctx.lookupKey, { signal })
      const others = ctx.nodes.filter((node) => node !== ctx.querier)
      const expected = trueClosest(others, ctx.lookupKey, Math.min(ctx.k, others.length))
      const returned = new Set(peers.map((peer) => peer.id.toString()))
      const overlap = expected.filter((id) => returned.has(id)).length / expected.length
      return returned.has(expected[0])
        ? { ok: true, metric: overlap }
        : { ok: false, failure: "the closest node was not among the results" }
    },
    detail: (samples, ctx) => `${Math.round(mean(metrics(samples)) * 100)}% of the true ${ctx.k} closest found`
  },
  {
    name: "provide",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      await ctx.publisher.dht.provide(ctx.cid, true, { signal })
      return { ok: true }
    },
    detail: () => "announce a CID"
  },
  {
    name: "findProvidersAsync",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const providers = await collect(ctx.querier.dht.findProvidersAsync(ctx.cid, 1, { signal }), 1)
      return includesPeer(providers, ctx.publisher)
        ? { ok: true }
        : { ok: false, failure: "the provider was not found" }
    },
    detail: () => "the provider, from another node"
  },
  {
    name: "putValue",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      await ctx.publisher.dht.putValue(ctx.key, ctx.value, { signal })
      return { ok: true }
    },
    detail: () => "a /cli/ record"
  },
  {
    name: "getValue",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const value = await ctx.querier.dht.getValue(ctx.key, { signal })
      return sameBytes(value, ctx.value) ? { ok: true } : { ok: false, failure: "wrong or missing value" }
    },
    detail: () => "the same record, from another node"
  },
  {
    name: "searchValue",
    caller: (ctx) => ctx.searcher,
    run: async (ctx, signal) => {
      const values = await collect(ctx.searcher.dht.searchValue(ctx.key, { signal }))
      return sameBytes(values.at(-1), ctx.value)
        ? { ok: true, metric: values.length }
        : { ok: false, failure: "the search did not end with the stored value" }
    },
    detail: (samples) => `${mean(metrics(samples)).toFixed(1)} values streamed, best last`
  },
  {
    name: "advertise",
    caller: (ctx) => ctx.publisher,
    run: async (ctx, signal) => {
      const ttl = await ctx.publisher.dht.advertise(ctx.namespace, { signal })
      return ttl > 0 ? { ok: true, metric: ttl } : { ok: false, failure: `TTL ${ttl} ms` }
    },
    detail: (samples) => `TTL ${Duration.format(Duration.millis(mean(metrics(samples)) || 0))}`
  },
  {
    name: "findPeers",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      const peers = await collect(ctx.querier.dht.findPeers(ctx.namespace, { signal }))
      return includesPeer(peers, ctx.publisher)
        ? { ok: true, metric: peers.length }
        : { ok: false, failure: "the advertiser was not found" }
    },
    detail: () => "the advertiser, from another node"
  },
  {
    name: "routingTable.size",
    caller: (ctx) => ctx.querier,
    run: async (ctx) => {
      const size = await ctx.querier.dht.routingTable.size()
      return size > 0 ? { ok: true, metric: size } : { ok: false, failure: "empty routing table" }
    },
    detail: (samples, ctx) => `${mean(metrics(samples)).toFixed(1)} peers (of ${ctx.nodes - 1} others)`
  },
  {
    name: "nsEstimator.estimate",
    caller: (ctx) => ctx.querier,
    run: async (ctx) => {
      const estimate = await ctx.querier.dht.nsEstimator.estimate()
      return Number.isFinite(estimate) && estimate > 0
        ? { ok: true, metric: estimate }
        : { ok: false, failure: `estimate ${estimate}` }
    },
    detail: (samples, ctx) => `≈ ${Math.round(mean(metrics(samples)))} nodes (actual ${ctx.nodes})`
  },
  {
    name: "health check",
    caller: (ctx) => ctx.querier,
    run: async (ctx, signal) => {
      // the developer guide's DHTHealthChecker: a non-empty table, a self-lookup and a put/get round trip
      const dht = ctx.querier.dht
      const size = await dht.routingTable.size()
      const self = await dht.findPeer(ctx.querier.host.peerId, { signal })
      const key = `/cli/health-check-${ctx.run}-${Date.now()}`
      const value = encodeCliValue("test-value", Date.now())
      await dht.putValue(key, value, { signal })
      const stored = sameBytes(await dht.getValue(key, { signal }), value)
      const failures = [
        size > 0 ? [] : ["empty routing table"],
        self !== null ? [] : ["cannot find self"],
        stored ? [] : ["cannot store values"]
      ].flat()
      return failures.length === 0 ? { ok: true } : { ok: false, failure: failures.join(", ") }
    },
    detail: () => "table, self-lookup, put/get"
  }
]

/** Runs one operation once and measures it. */
export const measure = (op: Operation, ctx: RunContext, timeout: Duration.DurationInput): Effect.Effect<Sample> => {
  const caller = op.caller(ctx)
  return Effect.gen(function* () {
    const before = caller.requests.sent
    const started = performance.now()
    const outcome = yield* call(op.name, (signal) => op.run(ctx, signal)).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new OperationError({ operation: op.name, reason: `timed out after ${Duration.format(timeout)}` })
      }),
      Effect.either
    )
    const millis = performance.now() - started
    const requests = caller.requests.sent - before
    if (outcome._tag === "Left") return { ok: false, millis, requests, error: outcome.left.message }
    const { ok, metric, failure } = outcome.right
    return { ok, millis, requests, metric, error: failure }
  })
}

/** The nodes and data of run `run`: publishers rotate through the network, callers are other nodes. */
export const contextFor = async (run: number, nodes: ReadonlyArray<KadNode>): Promise<RunContext> => {
  const k = demoBucketSize(nodes.length)
  // publishers rotate through the network; the callers are other nodes, spread around it
  const publisherIndex = (run * 5) % nodes.length
  const others = nodes.filter((_, i) => i !== publisherIndex)
  const tag = `${Date.now().toString(36)}-${run}`
  const cid = CID.createV1(raw.code, await sha256.digest(encoder.encode(`kad-dht demo content ${tag}`)))
  return {
    run,
    nodes,
    publisher: nodes[publisherIndex],
    querier: others[(run * 3 + Math.floor(others.length / 2)) % others.length],
    searcher: others[(run * 3 + Math.floor(others.length / 2) + 1) % others.length],
    cid,
    key: `/cli/demo-${tag}`,
    value: encodeCliValue(`demo value ${tag}`, Date.now()),
    namespace: `kad-dht-demo-${tag}`,
    lookupKey: crypto.getRandomValues(new Uint8Array(32)),
    k
  }
}
