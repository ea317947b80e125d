/**
 * The adversity suite's loopback part: one mixed network of real libp2p
 * hosts on 127.0.0.1 (servers and clients of this project's DHT and of
 * @libp2p/kad-dht), then scenarios in which a share of the servers of both
 * implementations is made silent or slow (see `AnswerSwitch` in
 * adversity-nodes.ts), each measured from four kinds of origin side by
 * side: our server, our client, their server, their client.
 *
 * Per scenario:
 * 1. heal: every server answers normally again, and every node looks
 *    itself up once (so peers dropped in the previous scenario are
 *    relearned), then records to look for are placed while all servers
 *    answer: one provider record and one value per measurement round and
 *    origin kind, each from a random server;
 * 2. the scenario's servers turn silent or slow (the same seeded order
 *    for every scenario, so the 10% are among the 30%, and those among the
 *    50%);
 * 3. the four origin kinds run at once, each a sequence of rounds of
 *    getClosestPeers, findProviders (to the first provider), getValue,
 *    provide, putValue, one operation at a time per kind, every operation
 *    under the same deadline; origins are picked among the servers that
 *    answer normally (findProviders and getValue: outside the 20 servers
 *    closest to the key, so the origin holds no copy), or are the kind's
 *    clients in turn;
 * 4. after each provide and put, the 20 live servers closest to the key
 *    (the origin excepted) are asked by a probe host, with raw
 *    GET_PROVIDERS / GET_VALUE, whether they hold the record.
 *
 * @module
 */
import { compareDistance, kadIdOfKey, kadIdOfPeer } from "@effect-kad/core"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { type AdversityNode, AnswerSwitch, type Behaviour, probeHolds, startAdversityNode } from "./adversity-nodes.js"
import { connectHosts, type Impl, startHost, stopHosts } from "./hosts.js"
import { randomIndex, seededRandom } from "./stats.js"

/** The operations measured, in the order a round runs them. */
export const OPERATIONS = ["getClosestPeers", "findProviders (first)", "getValue", "provide", "putValue"] as const
export type Operation = (typeof OPERATIONS)[number]

/** Who runs an operation. */
export interface OriginKind {
  readonly impl: Impl
  readonly role: "server" | "client"
}

export const ORIGIN_KINDS: ReadonlyArray<OriginKind> = [
  { impl: "ours", role: "server" },
  { impl: "ours", role: "client" },
  { impl: "theirs", role: "server" },
  { impl: "theirs", role: "client" }
]

/** A scenario: which share of the servers misbehaves, and how. */
export interface Scenario {
  readonly name: string
  readonly share: number
  readonly behaviour: Behaviour
}

/** How an operation ended. */
export type Outcome = "ok" | "failed" | "aborted"

/** One timed operation. */
export interface OpSample {
  readonly kind: OriginKind
  readonly op: Operation
  readonly origin: string
  /** Until it answered, failed, or the deadline (aborted ones count the deadline). */
  readonly millis: number
  readonly outcome: Outcome
  readonly error?: string
  readonly messages: number
  readonly streams: number
  /** getClosestPeers: how many of the 20 closest live servers (origin excepted) the result held. */
  readonly exact?: number
  /** provide / putValue: how many of the 20 closest live servers (origin excepted) hold the record afterwards. */
  reach?: number
}

export interface ScenarioResult {
  readonly scenario: Scenario
  readonly samples: ReadonlyArray<OpSample>
  /** Routing table sizes of the servers when the scenario started (after healing). */
  readonly tableSizes: { readonly ours: ReadonlyArray<number>; readonly theirs: ReadonlyArray<number> }
  readonly healMillis: number
  readonly measureMillis: number
  readonly rounds: Record<string, number>
}

export interface LoopbackPlan {
  readonly serversPerImpl: number
  readonly clientsPerImpl: number
  readonly scenarios: ReadonlyArray<Scenario>
  /** Most rounds per lane and scenario. */
  readonly maxRounds: number
  /**
   * Chains of rounds each origin kind runs at once, on disjoint hosts (server
   * lanes split the kind's servers; client lane i uses client i), so every
   * host runs one operation at a time and its message count is its own.
   */
  readonly lanes: number
  readonly deadlineMillis: number
  readonly seed: number
}

export interface LoopbackReport {
  readonly plan: LoopbackPlan
  readonly buildMillis: number
  readonly joinMillis: number
  readonly results: ReadonlyArray<ScenarioResult>
  readonly skipped: ReadonlyArray<string>
  readonly initialTables: { readonly ours: ReadonlyArray<number>; readonly theirs: ReadonlyArray<number> }
  /** Dials that failed while wiring (out of about 4 per node). */
  readonly failedLinks: number
}

/** Live servers whose records and answers are checked: k. */
const K = 20

/** Earlier servers each server dials when the network is wired; servers each client dials. */
const CONTACTS = 4

/** Dials in progress at once while wiring. */
const WIRE_CONCURRENCY = 8

/** Lookups at once while the network joins and heals. */
const JOIN_CONCURRENCY = 8

/** Records placed at once before a scenario. */
const PLACE_CONCURRENCY = 4

/** Time after a provide or put before its holders are asked. */
const REACH_SETTLE_MILLIS = 500

const encoder = new TextEncoder()
const cidOf = async (text: string): Promise<CID> => CID.createV1(raw.code, await sha256.digest(encoder.encode(text)))

const forEachLimit = async <A>(items: ReadonlyArray<A>, limit: number, f: (item: A) => Promise<void>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await f(items[next++])
    })
  )
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 160) : String(error).slice(0, 160)

/** Runs `run` under a deadline and counts the messages `node` sends meanwhile. */
const timed = async (
  node: AdversityNode,
  deadlineMillis: number,
  run: (signal: AbortSignal) => Promise<{ ok: boolean; exact?: number }>
): Promise<Omit<OpSample, "kind" | "op" | "origin">> => {
  const messages = node.sent.messages
  const streams = node.sent.streams
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const started = performance.now()
  const deadline = new Promise<"aborted">((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error("deadline"))
      resolve("aborted")
    }, deadlineMillis)
  })
  let error: string | undefined
  let exact: number | undefined
  const attempt = run(controller.signal).then(
    (result) => {
      exact = result.exact
      return result.ok ? ("ok" as const) : ("failed" as const)
    },
    (cause: unknown) => {
      error = describeError(cause)
      return "failed" as const
    }
  )
  let outcome: Outcome = await Promise.race([attempt, deadline])
  clearTimeout(timer)
  const millis = performance.now() - started
  // an operation that gives up by itself at the deadline (ours ends a provider stream quietly) was aborted all the same
  if (outcome !== "ok" && millis >= deadlineMillis - 50) outcome = "aborted"
  return {
    millis: outcome === "aborted" ? Math.max(millis, deadlineMillis) : millis,
    outcome,
    ...(error === undefined || outcome === "aborted" ? {} : { error }),
    messages: node.sent.messages - messages,
    streams: node.sent.streams - streams,
    ...(exact === undefined ? {} : { exact })
  }
}

/** The `count` servers closest to `key` among `servers`, closest first. */
const closestServers = (
  servers: ReadonlyArray<AdversityNode>,
  key: Uint8Array,
  count: number
): Array<AdversityNode> => {
  const target = kadIdOfKey(key)
  const ids = new Map(servers.map((s) => [s, kadIdOfPeer(s.peerId)]))
  return [...servers].sort((a, b) => compareDistance(ids.get(a)!, ids.get(b)!, target)).slice(0, count)
}

const tableSizes = async (servers: ReadonlyArray<AdversityNode>) => ({
  ours: await Promise.all(servers.filter((s) => s.impl === "ours").map((s) => s.tableSize())),
  theirs: await Promise.all(servers.filter((s) => s.impl === "theirs").map((s) => s.tableSize()))
})

/** Builds the network, runs every scenario that fits `remainingMillis`, stops every host. */
export const runLoopback = async (
  plan: LoopbackPlan,
  log: (line: string) => void,
  remainingMillis: () => number
): Promise<LoopbackReport> => {
  const random = seededRandom(plan.seed)
  const nodes: Array<AdversityNode> = []
  let probe: Libp2p | undefined
  const started = performance.now()
  try {
    // servers of both implementations, interleaved in a seeded order, then the clients
    const serverImpls: Array<Impl> = [
      ...Array.from({ length: plan.serversPerImpl }, () => "ours" as const),
      ...Array.from({ length: plan.serversPerImpl }, () => "theirs" as const)
    ]
    for (let i = serverImpls.length - 1; i > 0; i--) {
      const j = randomIndex(random, i + 1)
      ;[serverImpls[i], serverImpls[j]] = [serverImpls[j], serverImpls[i]]
    }
    const specs = [
      ...serverImpls.map((impl, i) => ({ impl, role: "server" as const, name: `${impl}-server-${i}` })),
      ...(["ours", "theirs"] as const).flatMap((impl) =>
        Array.from({ length: plan.clientsPerImpl }, (_, i) => ({
          impl,
          role: "client" as const,
          name: `${impl}-client-${i}`
        }))
      )
    ]
    for (let i = 0; i < specs.length; i += 10) {
      nodes.push(
        ...(await Promise.all(
          specs.slice(i, i + 10).map((s) => startAdversityNode(s.impl, s.role, s.name, plan.deadlineMillis))
        ))
      )
    }
    probe = await startHost()
    const servers = nodes.filter((n) => n.role === "server")
    const clients = nodes.filter((n) => n.role === "client")
    const links: Array<[AdversityNode, AdversityNode]> = []
    for (let i = 1; i < servers.length; i++) {
      const contacts = new Set<number>()
      while (contacts.size < Math.min(CONTACTS, i)) contacts.add(randomIndex(random, i))
      for (const c of contacts) links.push([servers[i], servers[c]])
    }
    for (const client of clients) {
      const contacts = new Set<number>()
      while (contacts.size < CONTACTS) contacts.add(randomIndex(random, servers.length))
      for (const c of contacts) links.push([client, servers[c]])
    }
    let failedLinks = 0
    await forEachLimit(links, WIRE_CONCURRENCY, async ([from, to]) => {
      try {
        await connectHosts(from.host, to.host, 30_000)
      } catch {
        // a busy machine can miss the deadline of one dial; the others and the self lookups fill the tables
        failedLinks++
      }
    })
    if (failedLinks > 0) log(`loopback: ${failedLinks} of ${links.length} dials failed while wiring`)
    const buildMillis = performance.now() - started
    log(`loopback: ${nodes.length} hosts started and wired in ${(buildMillis / 1000).toFixed(1)} s`)

    const selfLookups = (who: ReadonlyArray<AdversityNode>) =>
      forEachLimit(who, JOIN_CONCURRENCY, async (node) => {
        try {
          await node.getClosestPeers(node.peerId.toMultihash().bytes, AbortSignal.timeout(plan.deadlineMillis))
        } catch {
          // a node that could not look itself up is still measured; its table shows it
        }
      })
    const joining = performance.now()
    await selfLookups(nodes)
    // kad-dht admits newcomers after a ping, in the background
    await sleep(2_000)
    const joinMillis = performance.now() - joining
    const initialTables = await tableSizes(servers)
    log(`loopback: joined in ${(joinMillis / 1000).toFixed(1)} s`)

    // one seeded order per implementation: the first share of it misbehaves, so smaller sets nest in larger ones
    const order = new Map<Impl, Array<AdversityNode>>()
    for (const impl of ["ours", "theirs"] as const) {
      const list = servers.filter((s) => s.impl === impl)
      for (let i = list.length - 1; i > 0; i--) {
        const j = randomIndex(random, i + 1)
        ;[list[i], list[j]] = [list[j], list[i]]
      }
      order.set(impl, list)
    }
    const switches = new Map(servers.map((s) => [s, new AnswerSwitch(s.host, random)]))

    const results: Array<ScenarioResult> = []
    const skipped: Array<string> = []
    let dirty = false
    for (const [index, scenario] of plan.scenarios.entries()) {
      // what is left, less stopping the hosts, shared by the scenarios still to run
      const left = plan.scenarios.length - index
      const allowance = (remainingMillis() - 20_000) / left
      if (allowance < 12_000) {
        skipped.push(`${scenario.name} (${Math.round(remainingMillis() / 1000)} s of the budget left)`)
        log(`loopback: skipping ${scenario.name}, budget left ${Math.round(remainingMillis() / 1000)} s`)
        continue
      }
      const scenarioStarted = performance.now()
      // 1. heal
      for (const s of switches.values()) if (s.current._tag !== "normal") await s.set({ _tag: "normal" })
      if (dirty) {
        await selfLookups(nodes)
        await sleep(1_000)
      }
      const tables = await tableSizes(servers)
      const affected = new Set(
        [...order.values()].flatMap((list) => list.slice(0, Math.round(scenario.share * list.length)))
      )
      const silent = scenario.behaviour._tag === "silent" ? affected : new Set<AdversityNode>()
      const live = servers.filter((s) => !silent.has(s))
      const normal = servers.filter((s) => !affected.has(s))
      const serversOf = (impl: Impl) => normal.filter((s) => s.impl === impl)
      // records to look for, placed while every server answers
      const pool = new Map<
        string,
        { cid: CID; provider: AdversityNode; key: Uint8Array; value: Uint8Array; placed: boolean }
      >()
      const placements: Array<{ slot: string; provider: AdversityNode; putter: AdversityNode }> = []
      for (const kind of ORIGIN_KINDS) {
        for (let slot = 0; slot < plan.maxRounds * plan.lanes; slot++) {
          placements.push({
            slot: `${kind.impl}-${kind.role}-${slot}`,
            provider: servers[randomIndex(random, servers.length)],
            putter: servers[randomIndex(random, servers.length)]
          })
        }
      }
      let placeFailures = 0
      await forEachLimit(placements, PLACE_CONCURRENCY, async ({ slot, provider, putter }) => {
        const cid = await cidOf(`adversity ${plan.seed} ${scenario.name} ${slot}`)
        const key = encoder.encode(`/bench/adversity-${plan.seed}-${scenario.name.replace(/\W+/g, "-")}-${slot}`)
        const value = crypto.getRandomValues(new Uint8Array(32))
        let placed = true
        try {
          await provider.provide(cid, AbortSignal.timeout(plan.deadlineMillis))
          await putter.putValue(key, value, AbortSignal.timeout(plan.deadlineMillis))
        } catch {
          placed = false
          placeFailures++
        }
        pool.set(slot, { cid, provider, key, value, placed })
      })
      const healMillis = performance.now() - scenarioStarted
      // 2. misbehave
      for (const server of affected) await switches.get(server)!.set(scenario.behaviour)
      dirty = affected.size > 0
      log(
        `loopback: ${scenario.name}: ${affected.size} of ${servers.length} servers ${scenario.behaviour._tag}; healed and placed ${pool.size} records (${placeFailures} failed) in ${(healMillis / 1000).toFixed(1)} s`
      )

      // 3. measure, the four kinds at once
      const measuring = performance.now()
      const end = measuring + Math.max(8_000, allowance - healMillis - 5_000)
      const samples: Array<OpSample> = []
      const reaches: Array<Promise<void>> = []
      const rounds: Record<string, number> = {}
      const checkReach = (sample: OpSample, origin: AdversityNode, question: Parameters<typeof probeHolds>[2]) => {
        const key = question.kind === "provider" ? question.multihash : question.key
        const holders = closestServers(
          live.filter((s) => s !== origin),
          key,
          K
        )
        reaches.push(
          (async () => {
            await sleep(REACH_SETTLE_MILLIS)
            const held = await Promise.all(
              holders.map((h) =>
                probeHolds(probe!, h.host, question, scenario.behaviour._tag === "slow" ? 8_000 : 3_000)
              )
            )
            sample.reach = held.filter(Boolean).length
          })()
        )
      }
      const nearCount = Math.min(K, Math.floor(servers.length / 2))
      const chains = ORIGIN_KINDS.flatMap((kind) => Array.from({ length: plan.lanes }, (_, lane) => ({ kind, lane })))
      await Promise.all(
        chains.map(async ({ kind, lane }) => {
          const label = `${kind.impl}-${kind.role}`
          const kindClients = clients.filter((c) => c.impl === kind.impl)
          const laneServers = serversOf(kind.impl).filter((_, i) => i % plan.lanes === lane)
          let round = 0
          for (; round < plan.maxRounds && (round === 0 || performance.now() < end); round++) {
            const pickOrigin = (avoid?: Uint8Array): AdversityNode => {
              if (kind.role === "client") return kindClients[lane % kindClients.length]
              let candidates = laneServers
              if (avoid !== undefined) {
                const near = new Set(closestServers(servers, avoid, nearCount))
                const far = candidates.filter((c) => !near.has(c))
                if (far.length > 0) candidates = far
              }
              return candidates[randomIndex(random, candidates.length)]
            }
            const record = pool.get(`${label}-${lane * plan.maxRounds + round}`)!
            const add = (op: Operation, origin: AdversityNode, sample: Omit<OpSample, "kind" | "op" | "origin">) => {
              const full: OpSample = { kind, op, origin: origin.name, ...sample }
              samples.push(full)
              return full
            }
            // getClosestPeers
            {
              const origin = pickOrigin()
              const key = crypto.getRandomValues(new Uint8Array(32))
              const truth = new Set(
                closestServers(
                  live.filter((s) => s !== origin),
                  key,
                  K
                ).map((s) => s.peerId.toString())
              )
              add(
                "getClosestPeers",
                origin,
                await timed(origin, plan.deadlineMillis, async (signal) => {
                  const peers = await origin.getClosestPeers(key, signal)
                  const exact = peers.filter((p) => truth.has(p.toString())).length
                  return { ok: peers.length > 0, exact }
                })
              )
            }
            // findProviders, to the first provider
            {
              const origin = pickOrigin(record.cid.multihash.bytes)
              add(
                "findProviders (first)",
                origin,
                await timed(origin, plan.deadlineMillis, async (signal) => {
                  const first = await origin.firstProvider(record.cid, signal)
                  return { ok: first?.equals(record.provider.peerId) === true }
                })
              )
            }
            // getValue
            {
              const origin = pickOrigin(record.key)
              add(
                "getValue",
                origin,
                await timed(origin, plan.deadlineMillis, async (signal) => {
                  const got = await origin.getValue(record.key, signal)
                  return {
                    ok:
                      got !== undefined &&
                      got.length === record.value.length &&
                      got.every((b, i) => b === record.value[i])
                  }
                })
              )
            }
            // provide
            {
              const origin = pickOrigin()
              const cid = await cidOf(`adversity ${plan.seed} ${scenario.name} provide ${label} ${lane} ${round}`)
              const sample = add(
                "provide",
                origin,
                await timed(origin, plan.deadlineMillis, async (signal) => {
                  await origin.provide(cid, signal)
                  return { ok: true }
                })
              )
              checkReach(sample, origin, { kind: "provider", multihash: cid.multihash.bytes, provider: origin.peerId })
            }
            // putValue
            {
              const origin = pickOrigin()
              const key = encoder.encode(
                `/bench/adversity-${plan.seed}-${scenario.name.replace(/\W+/g, "-")}-put-${label}-${lane}-${round}`
              )
              const value = crypto.getRandomValues(new Uint8Array(32))
              const sample = add(
                "putValue",
                origin,
                await timed(origin, plan.deadlineMillis, async (signal) => {
                  await origin.putValue(key, value, signal)
                  return { ok: true }
                })
              )
              checkReach(sample, origin, { kind: "value", key, value })
            }
          }
          rounds[label] = (rounds[label] ?? 0) + round
        })
      )
      await Promise.all(reaches)
      const measureMillis = performance.now() - measuring
      log(
        `loopback: ${scenario.name}: ${samples.length} operations in ${(measureMillis / 1000).toFixed(1)} s (rounds ${JSON.stringify(rounds)})`
      )
      results.push({ scenario, samples, tableSizes: tables, healMillis, measureMillis, rounds })
    }
    return { plan, buildMillis, joinMillis, results, skipped, initialTables, failedLinks }
  } finally {
    await stopHosts([...nodes.map((n) => n.host), ...(probe === undefined ? [] : [probe])])
  }
}
