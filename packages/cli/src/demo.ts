/**
 * The local network demo: N real libp2p nodes on 127.0.0.1 in this
 * process, each a server-mode `IpfsDHT`, exercised with every operation of
 * the developer guide from nodes other than the ones that published, and
 * summed up in a table.
 *
 * Nodes run with automatic refresh off (each joins with an explicit
 * `bootstrap()`), so the requests counted for an operation are the ones
 * that operation sent and not a background refresh.
 *
 * @module
 */

import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { CliError } from "./errors.js"
import { demoBucketSize, refreshNetwork, startNetwork } from "./internal/demo/network.js"
import { contextFor, measure, operations, type Sample } from "./internal/demo/operations.js"
import { type DemoReport, summarizeOperation } from "./internal/demo/report.js"
import { ProgressBar, type ProgressSink } from "./progress.js"

export { demoBucketSize, refreshNetwork, startNetwork } from "./internal/demo/network.js"
export type { Sample } from "./internal/demo/operations.js"
export { type DemoReport, type OperationReport, renderReport } from "./internal/demo/report.js"

/** Settings of {@link runDemo}. */
export interface DemoSettings {
  /** Nodes in the network, at least 3. */
  readonly nodes: number
  /** Times each operation runs, at least 1. */
  readonly runs: number
  /** Deadline of one operation. */
  readonly operationTimeout: Duration.DurationInput
  /** Where the progress bars are drawn; none when omitted. */
  readonly progress?: ProgressSink
}

/**
 * Starts the network, runs every operation `runs` times, and stops the
 * network. Fails only when the network cannot be started; failed
 * operations are counted in the report.
 *
 * @example
 * ```ts
 * const report = yield* runDemo({ nodes: 25, runs: 5, operationTimeout: "15 seconds" })
 * console.log(renderReport(report))
 * ```
 */
export const runDemo = (settings: DemoSettings): Effect.Effect<DemoReport, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const begin = performance.now()
      const startBar = settings.progress
        ? new ProgressBar({ total: settings.nodes, label: "nodes started", sink: settings.progress })
        : undefined
      const nodes = yield* startNetwork(settings.nodes, () => startBar?.tick()).pipe(
        Effect.ensuring(Effect.sync(() => startBar?.finish()))
      )
      const refreshBar = settings.progress
        ? new ProgressBar({ total: settings.nodes, label: "routing tables refreshed", sink: settings.progress })
        : undefined
      yield* refreshNetwork(nodes, () => refreshBar?.tick()).pipe(
        Effect.ensuring(Effect.sync(() => refreshBar?.finish()))
      )
      const startupMs = performance.now() - begin

      const opsBar = settings.progress
        ? new ProgressBar({
            total: settings.runs * operations.length,
            label: "operations run",
            sink: settings.progress
          })
        : undefined
      const samples = operations.map((): Array<Sample> => [])
      for (let run = 0; run < settings.runs; run++) {
        const ctx = yield* Effect.promise(() => contextFor(run, nodes))
        for (const [i, op] of operations.entries()) {
          samples[i].push(yield* measure(op, ctx, settings.operationTimeout))
          opsBar?.tick()
        }
      }
      opsBar?.finish()
      const reports = operations.map((op, i) => summarizeOperation(op, samples[i], settings.nodes))
      return {
        nodes: settings.nodes,
        runs: settings.runs,
        bucketSize: demoBucketSize(settings.nodes),
        startupMs: Math.round(startupMs),
        elapsedMs: Math.round(performance.now() - begin),
        operations: reports,
        allSucceeded: reports.every((r) => r.ok === r.total)
      } satisfies DemoReport
    })
  )
