/**
 * Runs benchmark suites: `pnpm bench [suite ...] [--quick] [--markdown]`.
 *
 * With no suite names every registered suite runs. Each prints its tables
 * on stdout (Markdown with `--markdown`, for pasting into bench/README.md)
 * and writes `bench/results/<suite>.json` and `bench/results/<suite>.svg`.
 * Progress goes to stderr. `--quick` asks suites for a short smoke run.
 *
 * To add a suite, export a `Suite` from `bench/<name>.ts` and append it to
 * `suites` below.
 *
 * @module
 */
import path from "node:path"
import { fileURLToPath } from "node:url"
import { adversitySuite } from "./adversity.js"
import { bundleSuite } from "./bundle.js"
import { describeMachine, machineInfo } from "./lib/machine.js"
import { saveResult } from "./lib/report.js"
import type { Suite } from "./lib/suite.js"
import { formatTable, markdownTable } from "./lib/table.js"
import { operationsSuite } from "./operations.js"
import { provideScaleSuite } from "./provide-scale.js"
import { requestHandlingSuite } from "./request-handling.js"
import { routingTableSuite } from "./routing-table.js"
import { simulationSuite } from "./simulation.js"
import { startupSuite } from "./startup.js"

/** Every suite `pnpm bench` knows, in the order they run. */
const suites: ReadonlyArray<Suite> = [
  routingTableSuite,
  requestHandlingSuite,
  operationsSuite,
  simulationSuite,
  adversitySuite,
  bundleSuite,
  provideScaleSuite,
  startupSuite
]

/** Time budget of one suite; suites size their work to finish within it. */
const SUITE_BUDGET_MILLIS = 5 * 60 * 1000

const resultsDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), "results")

const main = async (): Promise<number> => {
  const args = process.argv.slice(2)
  const flags = new Set(args.filter((a) => a.startsWith("--")))
  const names = args.filter((a) => !a.startsWith("--"))
  for (const flag of flags) {
    if (flag !== "--quick" && flag !== "--markdown") {
      console.error(`unknown flag ${flag}; known: --quick, --markdown`)
      return 2
    }
  }
  const unknown = names.filter((n) => !suites.some((s) => s.name === n))
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; known: ${suites.map((s) => s.name).join(", ")}`)
    return 2
  }
  const selected = names.length === 0 ? suites : suites.filter((s) => names.includes(s.name))
  const quick = flags.has("--quick")
  const machine = machineInfo()
  console.error(`machine: ${describeMachine(machine)}`)
  let failures = 0
  for (const suite of selected) {
    const started = Date.now()
    const deadline = started + SUITE_BUDGET_MILLIS
    console.error(`\n== ${suite.name}: ${suite.description}`)
    try {
      const result = await suite.run({
        quick,
        log: (line) => console.error(`  [${suite.name}] ${line}`),
        remainingMillis: () => deadline - Date.now()
      })
      const durationMillis = Date.now() - started
      console.log("")
      for (const table of result.tables) {
        console.log(flags.has("--markdown") ? markdownTable(table) : formatTable(table))
        console.log("")
      }
      const files = saveResult(resultsDirectory, {
        suite: suite.name,
        description: suite.description,
        startedAt: new Date(started).toISOString(),
        durationMillis,
        quick,
        machine,
        result
      })
      console.error(
        `  ${suite.name} took ${(durationMillis / 1000).toFixed(1)} s; wrote ${[files.json, files.svg].filter(Boolean).join(", ")}`
      )
      if (durationMillis > SUITE_BUDGET_MILLIS) {
        console.error(`  warning: ${suite.name} ran past its ${SUITE_BUDGET_MILLIS / 60_000} minute budget`)
      }
    } catch (error) {
      failures++
      console.error(`  ${suite.name} failed:`, error)
    }
  }
  return failures === 0 ? 0 : 1
}

process.exitCode = await main()
