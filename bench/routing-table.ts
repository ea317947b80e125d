/**
 * Routing table suite: inserts per second and nearest-20 queries per second
 * at 1k, 10k and 100k peers, for the effect-kad `RoutingTable`, the k-bucket
 * trie inside `@libp2p/kad-dht` and a sort-everything baseline.
 *
 * Two set-ups are measured:
 *
 * - All peers held. Every table keeps all N peers, so the nearest-20 answers
 *   are comparable (and are checked to agree). effect-kad buckets by common
 *   prefix length with the local ID, so holding N peers needs a bucket size
 *   of N (bucket 0 alone gets half of them); kad-dht's trie keeps k = 20 per
 *   leaf and splits leaves on any side of the trie, so a prefix length of 32
 *   lets it hold every peer.
 * - Amino defaults. Both tables as a node runs them (k = 20; kad-dht's
 *   routing-table prefix length 6), offered N peers: each keeps what its
 *   rules admit (reported), and is queried as it is.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { compareDistance, type KadId, kadIdOfPeer, type PeerInfo } from "@effect-kad/core"
// The root package does not depend on @effect-kad/routing, so the suite imports its source directly.
import { RoutingTable, type RoutingTableShape } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import { Effect, Exit, Scope } from "effect"
import { fastPeerIds, randomKadIds } from "./lib/ids.js"
import { type Batch, type Measurement, measure, type RunPlan, rateOfBatches, rateSync } from "./lib/measure.js"
import type { BarChart, ResultTable, Suite, SuiteContext } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"

/** The results of a lookup: how many closest peers every query asks for. */
const NEAREST = 20

const OURS = "effect-kad"
const JS = "@libp2p/kad-dht"
const BASELINE = "sort baseline"

// ---------------------------------------------------------------------------
// @libp2p/kad-dht's k-bucket trie, loaded from its dist

/** The part of kad-dht's internal `KBucket` class the suite uses. */
interface JsKBucket {
  start(): Promise<void>
  add(peer: PeerId): Promise<void>
  closest(kadId: Uint8Array, options?: { count?: number }): Iterable<PeerId>
  count(): number
}

interface JsKBucketModule {
  readonly KBucket: new (
    components: { peerId: PeerId },
    options: {
      kBucketSize: number
      prefixLength: number
      ping: (oldContacts: Array<unknown>) => AsyncGenerator<never>
      verify: (contact: unknown) => Promise<boolean>
    }
  ) => JsKBucket
}

/**
 * kad-dht's `RoutingTable` needs a whole libp2p node's components (peer
 * store, connection manager, events, logger) and queues every change, so the
 * suite measures the `KBucket` trie it wraps, which holds the peers and
 * answers `closest`. The package's `exports` do not list that module, so it
 * is imported by file URL next to the package entry point.
 */
const loadJsKBucket = async (): Promise<{ module: JsKBucketModule; version: string }> => {
  const entry = import.meta.resolve("@libp2p/kad-dht")
  const module = (await import(new URL("./routing-table/k-bucket.js", entry).href)) as JsKBucketModule
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", entry), "utf8")) as { version: string }
  return { module, version: manifest.version }
}

/** A ping that reports no old contact dead: a full bucket never makes room, as with live peers. */
async function* noneDead(): AsyncGenerator<never> {}

const makeJs = async (module: JsKBucketModule, self: PeerId, prefixLength: number): Promise<JsKBucket> => {
  const kb = new module.KBucket(
    { peerId: self },
    { kBucketSize: 20, prefixLength, ping: noneDead, verify: async () => true }
  )
  await kb.start()
  return kb
}

// ---------------------------------------------------------------------------
// effect-kad's RoutingTable service

interface Ours {
  readonly table: RoutingTableShape
  readonly close: () => void
}

const makeOurs = (self: PeerId, bucketSize: number | undefined): Ours => {
  const scope = Effect.runSync(Scope.make())
  const table = Effect.runSync(
    Scope.extend(RoutingTable.make({ self, bucketSize, isAlive: () => Effect.succeed(true) }), scope)
  )
  return { table, close: () => Effect.runSync(Scope.close(scope, Exit.void)) }
}

const insertOurs = (table: RoutingTableShape, peers: ReadonlyArray<PeerInfo>): void =>
  Effect.runSync(Effect.forEach(peers, (peer) => table.tryAdd(peer), { discard: true }))

const nearestOurs = (table: RoutingTableShape, key: Uint8Array) => Effect.runSync(table.nearest(key, NEAREST))

// ---------------------------------------------------------------------------
// The baseline: an array of every peer, sorted by distance for each query

interface Entry {
  readonly id: PeerId
  readonly kadId: KadId
}

const nearestBySorting = (entries: ReadonlyArray<Entry>, key: Uint8Array): Array<Entry> =>
  entries
    .slice()
    .sort((a, b) => compareDistance(a.kadId, b.kadId, key))
    .slice(0, NEAREST)

// ---------------------------------------------------------------------------

interface SizeResult {
  readonly peers: number
  readonly insert: Record<string, Measurement>
  readonly nearest: Record<string, Measurement>
  /** Peers each table actually held (the defaults set-up keeps only what fits). */
  readonly held: Record<string, number>
}

/** Fewer runs at 100k peers, and a single run once the budget runs short. */
const planFor = (context: SuiteContext, peers: number): RunPlan => {
  if (context.quick || context.remainingMillis() < 60_000) return { warmup: 0, iterations: 1 }
  return peers >= 100_000 ? { warmup: 1, iterations: 3 } : { warmup: 1, iterations: 5 }
}

const QUERY_BOUNDS = { minMillis: 250, minOps: 3 }

/** An insert sample fills fresh tables until 250 ms of filling were timed (one fill at 100k). */
const INSERT_BOUNDS = { minMillis: 250, minOps: 1 }

const timed = (run: () => void, ops: number): Batch => {
  const start = performance.now()
  run()
  return { ops, millis: performance.now() - start }
}

const timedAsync = async (run: () => Promise<void>, ops: number): Promise<Batch> => {
  const start = performance.now()
  await run()
  return { ops, millis: performance.now() - start }
}

const idsOf = (peers: Iterable<PeerId>): string => Array.from(peers, (p) => p.toString()).join(",")

/** Inserts per second into fresh effect-kad tables of bucket size `bucketSize`, each offered every peer. */
const oursInsertRate = (self: PeerId, infos: ReadonlyArray<PeerInfo>, bucketSize: number | undefined, plan: RunPlan) =>
  measure(
    () =>
      rateOfBatches(() => {
        const ours = makeOurs(self, bucketSize)
        try {
          return timed(() => insertOurs(ours.table, infos), infos.length)
        } finally {
          ours.close()
        }
      }, INSERT_BOUNDS),
    plan
  )

/** Inserts per second into fresh kad-dht tables of trie prefix length `prefixLength`, each offered every peer. */
const jsInsertRate = (
  js: JsKBucketModule,
  self: PeerId,
  peers: ReadonlyArray<PeerId>,
  prefixLength: number,
  plan: RunPlan
) =>
  measure(
    () =>
      rateOfBatches(async () => {
        const kb = await makeJs(js, self, prefixLength)
        return timedAsync(async () => {
          for (const id of peers) await kb.add(id)
        }, peers.length)
      }, INSERT_BOUNDS),
    plan
  )

/** One table of each kind, offered every peer, to query. */
const filledTables = async (
  js: JsKBucketModule,
  self: PeerId,
  peers: ReadonlyArray<PeerId>,
  infos: ReadonlyArray<PeerInfo>,
  bucketSize: number | undefined,
  prefixLength: number
): Promise<{ ours: Ours; kb: JsKBucket }> => {
  const ours = makeOurs(self, bucketSize)
  insertOurs(ours.table, infos)
  const kb = await makeJs(js, self, prefixLength)
  for (const id of peers) await kb.add(id)
  return { ours, kb }
}

/** nearest-k queries per second on both tables, for keys taken in turn from `keys`. */
const nearestRates = async (
  ours: Ours,
  kb: JsKBucket,
  keys: ReadonlyArray<Uint8Array>,
  plan: RunPlan
): Promise<{ ours: Measurement; js: Measurement }> => {
  const key = (i: number) => keys[i % keys.length]
  return {
    ours: await measure(() => rateSync((i) => nearestOurs(ours.table, key(i)), QUERY_BOUNDS), plan),
    js: await measure(() => rateSync((i) => Array.from(kb.closest(key(i), { count: NEAREST })), QUERY_BOUNDS), plan)
  }
}

/** All peers held: the three contenders on the same N peers. */
const measureAllHeld = async (
  context: SuiteContext,
  js: JsKBucketModule,
  self: PeerId,
  peers: ReadonlyArray<PeerId>,
  keys: ReadonlyArray<Uint8Array>
): Promise<{ result: SizeResult; agreed: boolean }> => {
  const n = peers.length
  const plan = planFor(context, n)
  const infos: Array<PeerInfo> = peers.map((id) => ({ id, multiaddrs: [] }))
  const key = (i: number) => keys[i % keys.length]

  context.log(`all held, ${n} peers: effect-kad inserts`)
  const oursInsert = await oursInsertRate(self, infos, n, plan)
  context.log(`all held, ${n} peers: kad-dht inserts`)
  const jsInsert = await jsInsertRate(js, self, peers, 32, plan)
  context.log(`all held, ${n} peers: baseline inserts`)
  const baselineInsert = await measure(
    () =>
      rateOfBatches(
        () =>
          timed(() => {
            const entries: Array<Entry> = []
            for (const id of peers) entries.push({ id, kadId: kadIdOfPeer(id) })
          }, n),
        INSERT_BOUNDS
      ),
    plan
  )

  const { ours, kb } = await filledTables(js, self, peers, infos, n, 32)
  const entries: Array<Entry> = peers.map((id) => ({ id, kadId: kadIdOfPeer(id) }))
  const held = { [OURS]: Effect.runSync(ours.table.size), [JS]: kb.count(), [BASELINE]: entries.length }

  // The three must give the same answer, or the comparison means nothing.
  let agreed = true
  for (const k of keys.slice(0, 20)) {
    const expected = idsOf(nearestBySorting(entries, k).map((e) => e.id))
    const fromOurs = idsOf(nearestOurs(ours.table, k).map((e) => e.id))
    if (fromOurs !== expected || idsOf(kb.closest(k, { count: NEAREST })) !== expected) {
      agreed = false
    }
  }

  context.log(`all held, ${n} peers: nearest-${NEAREST} queries`)
  const nearest = await nearestRates(ours, kb, keys, plan)
  const baselineNearest = await measure(() => rateSync((i) => nearestBySorting(entries, key(i)), QUERY_BOUNDS), plan)
  ours.close()

  return {
    agreed,
    result: {
      peers: n,
      insert: { [OURS]: oursInsert, [JS]: jsInsert, [BASELINE]: baselineInsert },
      nearest: { [OURS]: nearest.ours, [JS]: nearest.js, [BASELINE]: baselineNearest },
      held
    }
  }
}

/** Amino defaults: each table as a node configures it, offered N peers. */
const measureDefaults = async (
  context: SuiteContext,
  js: JsKBucketModule,
  self: PeerId,
  peers: ReadonlyArray<PeerId>,
  keys: ReadonlyArray<Uint8Array>
): Promise<SizeResult> => {
  const n = peers.length
  const plan = planFor(context, n)
  const infos: Array<PeerInfo> = peers.map((id) => ({ id, multiaddrs: [] }))

  context.log(`defaults, ${n} peers offered: inserts`)
  const oursInsert = await oursInsertRate(self, infos, undefined, plan)
  const jsInsert = await jsInsertRate(js, self, peers, 6, plan)

  const { ours, kb } = await filledTables(js, self, peers, infos, undefined, 6)
  context.log(`defaults, ${n} peers offered: nearest-${NEAREST} queries`)
  const nearest = await nearestRates(ours, kb, keys, plan)
  const held = { [OURS]: Effect.runSync(ours.table.size), [JS]: kb.count() }
  ours.close()
  return {
    peers: n,
    insert: { [OURS]: oursInsert, [JS]: jsInsert },
    nearest: { [OURS]: nearest.ours, [JS]: nearest.js },
    held
  }
}

const chart = (
  title: string,
  unit: string,
  results: ReadonlyArray<SizeResult>,
  pick: (r: SizeResult) => Record<string, Measurement>
): BarChart => ({
  title,
  unit,
  logScale: true,
  groups: results.map((r) => ({
    label: `${r.peers.toLocaleString("en-US")} peers`,
    bars: Object.entries(pick(r)).map(([series, m]) => ({ series, value: m.median }))
  }))
})

const run = async (context: SuiteContext) => {
  const sizes = context.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000]
  const largest = sizes[sizes.length - 1]
  const { module: js, version } = await loadJsKBucket()
  context.log(`generating ${largest + 1} peer IDs`)
  const all = fastPeerIds(largest + 1)
  const self = all[largest]
  const keys = randomKadIds(1_000)

  const allHeld: Array<SizeResult> = []
  let agreedEverywhere = true
  for (const n of sizes) {
    const { result, agreed } = await measureAllHeld(context, js, self, all.slice(0, n), keys)
    allHeld.push(result)
    agreedEverywhere &&= agreed
  }
  const defaults: Array<SizeResult> = []
  for (const n of sizes) defaults.push(await measureDefaults(context, js, self, all.slice(0, n), keys))

  const ratio = (a: Measurement, b: Measurement) => formatRatio(a.median / b.median)
  const method = (plan: string) =>
    `median of ${plan}; queries are random 32-byte Kad IDs, each run ≥ ${QUERY_BOUNDS.minMillis} ms and ≥ ${QUERY_BOUNDS.minOps} queries`
  /** Rates of the three contenders per size, and ours against each other. */
  const allHeldRows = (pick: (r: SizeResult) => Record<string, Measurement>) =>
    allHeld.map((r) => {
      const m = pick(r)
      return [
        r.peers,
        m[OURS].median,
        m[JS].median,
        m[BASELINE].median,
        ratio(m[OURS], m[JS]),
        ratio(m[OURS], m[BASELINE])
      ]
    })
  const tables: Array<ResultTable> = [
    {
      title: "Insert rate, all peers held (peers/s)",
      columns: ["peers", OURS, `${JS} ${version}`, BASELINE, "ours / kad-dht", "ours / baseline"],
      rows: allHeldRows((r) => r.insert),
      notes: [
        "a sample fills fresh tables with all N peers until ≥ 250 ms of filling were timed (Kad ID hashing included everywhere)",
        `effect-kad: RoutingTable service, bucket size N; kad-dht: KBucket trie, k = 20, prefix length 32; baseline: array push`,
        "median of 5 timed samples after 1 warm-up sample (3 at 100k)"
      ]
    },
    {
      title: `nearest-${NEAREST} query rate, all peers held (queries/s)`,
      columns: ["peers", OURS, `${JS} ${version}`, BASELINE, "ours / kad-dht", "ours / baseline"],
      rows: allHeldRows((r) => r.nearest),
      notes: [
        agreedEverywhere
          ? "all three returned the same 20 peers, in the same order, for 20 random keys at every size"
          : "WARNING: the three disagreed on some nearest-20 answer; see the JSON",
        method("5 timed samples after 1 warm-up sample (3 at 100k)")
      ]
    },
    {
      title: "Amino defaults (k = 20), N peers offered",
      columns: [
        "offered",
        "held: ours",
        "held: kad-dht",
        "insert/s: ours",
        "insert/s: kad-dht",
        "insert: ours / kad-dht",
        `nearest-${NEAREST}/s: ours`,
        `nearest-${NEAREST}/s: kad-dht`,
        "nearest: ours / kad-dht"
      ],
      rows: defaults.map((r) => [
        r.peers,
        r.held[OURS],
        r.held[JS],
        r.insert[OURS].median,
        r.insert[JS].median,
        ratio(r.insert[OURS], r.insert[JS]),
        r.nearest[OURS].median,
        r.nearest[JS].median,
        ratio(r.nearest[OURS], r.nearest[JS])
      ]),
      notes: [
        "effect-kad: 20 per common-prefix-length bucket; kad-dht: 20 per trie leaf, prefix length 6 (its RoutingTable default)",
        "a full bucket refuses newcomers here (every incumbent is alive), so the tables hold different peers",
        "insert = peers offered per second, admitted or not; samples and medians as in the tables above"
      ]
    }
  ]
  const charts: Array<BarChart> = [
    chart("Insert, all peers held", "peers/s", allHeld, (r) => r.insert),
    chart(`nearest-${NEAREST}, all peers held`, "queries/s", allHeld, (r) => r.nearest),
    chart("Insert, Amino defaults (k = 20)", "peers/s", defaults, (r) => r.insert),
    chart(`nearest-${NEAREST}, Amino defaults (k = 20)`, "queries/s", defaults, (r) => r.nearest)
  ]
  return { tables, charts, raw: { kadDhtVersion: version, agreedEverywhere, allHeld, defaults } }
}

/** The routing table suite, registered in `bench/run.ts`. */
export const routingTableSuite: Suite = {
  name: "routing-table",
  description: `inserts/s and nearest-${NEAREST} queries/s at 1k/10k/100k peers: effect-kad vs @libp2p/kad-dht vs sorting`,
  run
}
