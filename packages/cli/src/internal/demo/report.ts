/**
 * The demo's results: one row per operation (successes, latency, requests
 * per run), and the text the command prints.
 *
 * @module
 */
import { summarize } from "../../stats.js"
import { type Column, renderTable } from "../../table.js"
import { demoBucketSize } from "./network.js"
import { mean, type Operation, type Sample } from "./operations.js"

/** One row of the results table. */
export interface OperationReport {
  readonly operation: string
  readonly ok: number
  readonly total: number
  /** Median latency of the successful runs, in milliseconds; null when none succeeded. */
  readonly medianMs: number | null
  /** 95th-percentile latency of the successful runs, in milliseconds. */
  readonly p95Ms: number | null
  /** Mean DHT requests the calling node sent per run. */
  readonly requestsPerRun: number
  readonly detail: string
  /** Distinct failure messages, at most three. */
  readonly errors: ReadonlyArray<string>
}

/** Everything the demo measured. */
export interface DemoReport {
  readonly nodes: number
  readonly runs: number
  /** k, the nodes' bucket size. */
  readonly bucketSize: number
  readonly startupMs: number
  readonly elapsedMs: number
  readonly operations: ReadonlyArray<OperationReport>
  readonly allSucceeded: boolean
}

/** One operation's samples summed up as a row of the report. */
export const summarizeOperation = (op: Operation, samples: ReadonlyArray<Sample>, nodes: number): OperationReport => {
  const succeeded = samples.filter((s) => s.ok)
  const latency = summarize(succeeded.map((s) => s.millis))
  const round = (ms: number) => (Number.isNaN(ms) ? null : Math.round(ms * 10) / 10)
  return {
    operation: op.name,
    ok: succeeded.length,
    total: samples.length,
    medianMs: round(latency.median),
    p95Ms: round(latency.p95),
    requestsPerRun: Math.round(mean(samples.map((s) => s.requests)) * 10) / 10,
    detail: succeeded.length > 0 ? op.detail(samples, { nodes, k: demoBucketSize(nodes) }) : "",
    errors: [...new Set(samples.flatMap((s) => (s.error === undefined ? [] : [s.error])))].slice(0, 3)
  }
}

const columns: ReadonlyArray<Column> = [
  { header: "operation" },
  { header: "ok", align: "right" },
  { header: "median ms", align: "right" },
  { header: "p95 ms", align: "right" },
  { header: "requests/run", align: "right" },
  { header: "detail" }
]

const ms = (value: number | null): string => (value === null ? "-" : value.toFixed(1))

/** The report as text: a summary line, the results table and a legend. */
export const renderReport = (report: DemoReport): string => {
  const rows = report.operations.map((op) => [
    op.operation,
    `${op.ok}/${op.total}`,
    ms(op.medianMs),
    ms(op.p95Ms),
    op.requestsPerRun.toFixed(1),
    op.ok === op.total ? op.detail : `${op.detail}${op.detail ? "; " : ""}failed: ${op.errors.join("; ")}`
  ])
  const failed = report.operations.filter((op) => op.ok < op.total)
  return [
    `${report.nodes} nodes on 127.0.0.1 started and refreshed in ${(report.startupMs / 1000).toFixed(1)} s; ` +
      `k = ${report.bucketSize}; each operation run ${report.runs} times from nodes other than the publisher.`,
    "",
    renderTable(columns, rows),
    "",
    "latency: successful runs only. requests/run: DHT requests (and ADD_PROVIDER messages) the calling node sent.",
    failed.length === 0
      ? `All operations succeeded (${(report.elapsedMs / 1000).toFixed(1)} s in total).`
      : `${failed.length} of ${report.operations.length} operations had failures: ${failed.map((op) => op.operation).join(", ")}.`
  ].join("\n")
}
