/**
 * Start-up of the demo network: real libp2p nodes on 127.0.0.1, each
 * joining through earlier ones, then a refresh of every node once all are
 * up, as the periodic refresh would.
 *
 * @module
 */
import { bucketSize, disableAutoRefresh, filterLocalhostInResponses, resiliency } from "@effect-kad/dht"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import type { CliError } from "../../errors.js"
import { dialableAddresses, makeHost } from "../../host.js"
import { call, type KadNode, makeKadNode } from "../../kad-node.js"

/**
 * k of the demo's nodes: the Amino 20, or fewer in a small network so a
 * lookup can still find k peers besides the caller (the size estimator
 * only learns from lookups that return exactly k).
 *
 * @example
 * ```ts
 * demoBucketSize(25) // 20
 * ```
 */
export const demoBucketSize = (nodes: number): number => Math.max(1, Math.min(20, nodes - 2))

/** Bootstrap peers of node `index`: the first node and up to two other earlier ones. */
const bootstrapFor = (index: number, started: ReadonlyArray<KadNode>): Array<string> => {
  if (index === 0) return []
  const picks = new Set([0, Math.floor(index / 2), index - 1])
  return [...picks].flatMap((i) => dialableAddresses(started[i].host))
}

/**
 * Starts `count` nodes one after the other, each joining through earlier
 * ones. The nodes are stopped together, in parallel, when the scope
 * closes, whether the demo succeeded or not.
 */
export const startNetwork = (
  count: number,
  onStarted: () => void = () => undefined
): Effect.Effect<ReadonlyArray<KadNode>, CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const scopes: Array<Scope.CloseableScope> = []
    yield* Effect.addFinalizer(() =>
      Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency: "unbounded", discard: true })
    )
    const nodes: Array<KadNode> = []
    const k = demoBucketSize(count)
    for (let index = 0; index < count; index++) {
      const scope = yield* Scope.make()
      scopes.push(scope)
      const node = yield* Effect.gen(function* () {
        const host = yield* makeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] })
        const bootstrap = bootstrapFor(index, nodes)
        const node = yield* makeKadNode({
          host,
          mode: "server",
          bootstrap,
          options: [filterLocalhostInResponses(false), disableAutoRefresh(), bucketSize(k), resiliency(Math.min(3, k))],
          logLevel: LogLevel.Warning
        })
        // joining only connects; refreshNetwork does the lookups once every node is up
        if (bootstrap.length > 0) {
          yield* call("bootstrap", (signal) => node.dht.bootstrap({ signal, quickConnectOnly: true }))
        }
        return node
      }).pipe(Scope.extend(scope))
      nodes.push(node)
      onStarted()
    }
    return nodes
  })

/** Random-key lookups a node makes at most to give its size estimator enough measurements. */
const MAX_WARM_UP_LOOKUPS = 8

/**
 * Looks up random keys until the node's size estimator has an answer, as
 * the lookups of a node that has been running a while would. A refresh of
 * a small network makes only a few lookups, sometimes fewer than the
 * estimator needs.
 */
const warmUpEstimator = (node: KadNode): Effect.Effect<void, CliError> =>
  Effect.gen(function* () {
    for (let i = 0; i < MAX_WARM_UP_LOOKUPS; i++) {
      const ready = yield* call("nsEstimator.estimate", () => node.dht.nsEstimator.estimate()).pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false)
      )
      if (ready) return
      const key = crypto.getRandomValues(new Uint8Array(32))
      yield* call("getClosestPeers", (signal) => node.dht.getClosestPeers(key, { signal }))
    }
  })

/**
 * Refreshes every node's routing table once the whole network is up, as
 * the periodic refresh would: early nodes learn of later ones, and each
 * node's size estimator gets its first measurements.
 */
export const refreshNetwork = (
  nodes: ReadonlyArray<KadNode>,
  onRefreshed: () => void = () => undefined
): Effect.Effect<void, CliError> =>
  Effect.forEach(
    nodes,
    (node) =>
      call("bootstrap", (signal) => node.dht.bootstrap({ signal })).pipe(
        Effect.zipRight(warmUpEstimator(node)),
        Effect.zipRight(Effect.sync(onRefreshed))
      ),
    { concurrency: 4, discard: true }
  )
