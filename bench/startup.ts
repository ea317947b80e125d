/**
 * Startup suite: what a process pays before it does anything, each run in
 * a fresh Node process from the built packages.
 *
 * - Library import: `import("@effect-kad/dht")` next to
 *   `import("@libp2p/kad-dht")`, timed inside the process (the time the
 *   `import()` takes), compile cache off (what an application gets by
 *   default) and warm (an application that enables it).
 * - The `kad-dht` executable: `--version`, `--help` and a one-shot `get`
 *   against a `kad-dht node` on 127.0.0.1, timed from spawn to exit, with
 *   the compile cache off, cold (an empty cache directory) and warm.
 *
 * The runs are made in rounds, every measurement once per round, so a
 * neighbour's load falls on all of them alike; ratios are taken within the
 * run. Needs `npx -y pnpm@10 build` first.
 *
 * @module
 */
import { median } from "./lib/measure.js"
import type { BarChart, ResultTable, Suite } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"
import {
  CacheDirectories,
  type CacheMode,
  checkBuilt,
  cliBin,
  killRunning,
  type LocalNode,
  startLocalNode,
  timeImport,
  timeNode,
  unbundledBin
} from "./support/startup-process.js"

/**
 * The libraries timed. The third row is no library: it is what any
 * libp2p library built on Effect loads before a line of its own, Effect's
 * runtime and libp2p's peer IDs, the floor under the first row.
 */
interface ImportedLibrary {
  readonly name: string
  readonly specifier: string | ReadonlyArray<string>
}
const ours: ImportedLibrary = { name: "@effect-kad/dht", specifier: "@effect-kad/dht" }
const reference: ImportedLibrary = { name: "@libp2p/kad-dht 16.4.5", specifier: "@libp2p/kad-dht" }
const floor: ImportedLibrary = {
  name: "floor: effect/Effect, Stream, Layer + @libp2p/peer-id",
  specifier: ["effect/Effect", "effect/Stream", "effect/Layer", "@libp2p/peer-id"]
}
const libraries: ReadonlyArray<ImportedLibrary> = [ours, reference, floor]

const importModes: ReadonlyArray<CacheMode> = ["off", "warm"]
const cliModes: ReadonlyArray<CacheMode> = ["off", "cold", "warm"]

/** The start-up targets, for the warm runs: `--version` and a one-shot `get`. */
const cliTargets: Readonly<Record<string, number>> = { "--version": 300, get: 1000 }

const ROUNDS = 5
const QUICK_ROUNDS = 2
/** A round is started only with this much of the budget left. */
const ROUND_RESERVE_MILLIS = 45_000

const KEY = "startup-bench"

/** The `startup` suite. */
export const startupSuite: Suite = {
  name: "startup",
  description:
    "fresh-process start-up: import of @effect-kad/dht next to @libp2p/kad-dht, kad-dht --version, --help and a one-shot get on loopback",
  run: async (context) => {
    checkBuilt(["core", "routing", "providers", "options", "dht", "cli"])
    const caches = new CacheDirectories()
    const imports = new Map<string, Array<number>>()
    const cli = new Map<string, Array<number>>()
    const record = (into: Map<string, Array<number>>, key: string, value: number) => {
      const list = into.get(key) ?? []
      list.push(value)
      into.set(key, list)
    }
    let node: LocalNode | undefined
    try {
      node = await startLocalNode()
      context.log(`kad-dht node on ${node.address}`)
      const getArgs = [cliBin, "get", KEY, "--bootstrap", node.address, "--json"]
      const put = await timeNode([cliBin, "put", KEY, "hello", "--bootstrap", node.address, "--json"])
      if (put.code !== 0) throw new Error(`kad-dht put failed: ${put.stderr.slice(0, 500)}`)
      const commands = [
        { name: "--version", args: [cliBin, "--version"], expect: "0.1.0" },
        { name: "--help", args: [cliBin, "--help"], expect: "find-providers" },
        { name: "get", args: getArgs, expect: '"value":"hello"' },
        { name: "--help, unbundled", args: [unbundledBin, "--help"], expect: "find-providers" },
        { name: "get, unbundled", args: [unbundledBin, ...getArgs.slice(1)], expect: '"value":"hello"' }
      ]
      // fill the warm caches with one untimed run each
      for (const library of libraries) await timeImport(library.specifier, caches.env("warm", library.name))
      for (const command of commands) await timeNode(command.args, caches.env("warm", command.name))

      const rounds = context.quick ? QUICK_ROUNDS : ROUNDS
      for (let round = 0; round < rounds; round++) {
        if (round >= 2 && context.remainingMillis() < ROUND_RESERVE_MILLIS) {
          context.log(`stopping after ${round} rounds: the time budget is nearly spent`)
          break
        }
        context.log(`round ${round + 1} of ${rounds}`)
        for (const mode of importModes) {
          for (const library of libraries) {
            const time = await timeImport(library.specifier, caches.env(mode, library.name))
            record(imports, `${library.name}|${mode}`, time.importMillis)
          }
        }
        for (const mode of cliModes) {
          for (const command of commands) {
            const run = await timeNode(command.args, caches.env(mode, command.name))
            if (run.code !== 0 || !run.stdout.includes(command.expect)) {
              throw new Error(`kad-dht ${command.name} failed (exit ${run.code}): ${run.stderr.slice(0, 500)}`)
            }
            record(cli, `${command.name}|${mode}`, run.wallMillis)
          }
        }
      }

      const importMedian = (library: string, mode: CacheMode) => median(imports.get(`${library}|${mode}`) ?? [])
      const importTable: ResultTable = {
        title: "Library import, fresh process (ms, median)",
        columns: ["library", "cache off", "cache warm", "off: this / kad-dht", "warm: this / kad-dht"],
        rows: libraries.map((library) => [
          library.name,
          importMedian(library.name, "off"),
          importMedian(library.name, "warm"),
          formatRatio(importMedian(library.name, "off") / importMedian(reference.name, "off")),
          formatRatio(importMedian(library.name, "warm") / importMedian(reference.name, "warm"))
        ]),
        notes: [
          "Time of `await import(<package>)` inside a fresh `node --input-type=module` started in the workspace root, built packages.",
          "Cache off: NODE_DISABLE_COMPILE_CACHE=1, what an application gets by default; warm: NODE_COMPILE_CACHE filled by an earlier run.",
          "The floor row imports Effect's runtime modules and @libp2p/peer-id, nothing of this project: what any Effect-built libp2p library pays first.",
          `${imports.get(`${ours.name}|off`)?.length ?? 0} runs per cell, interleaved with the other measurements; target: this / kad-dht ≤ 1.0× with the cache off.`
        ]
      }
      const cliMedian = (command: string, mode: CacheMode) => median(cli.get(`${command}|${mode}`) ?? [])
      const cliTable: ResultTable = {
        title: "kad-dht start to exit, fresh process (ms, median)",
        columns: ["command", "cache off", "cold", "warm", "target (warm)", "warm meets it"],
        rows: commands.map((command) => {
          const target = cliTargets[command.name]
          return [
            command.name.replace(/^get/, "get <key> on loopback"),
            cliMedian(command.name, "off"),
            cliMedian(command.name, "cold"),
            cliMedian(command.name, "warm"),
            target === undefined ? "-" : `≤ ${target}`,
            target === undefined ? "-" : cliMedian(command.name, "warm") <= target ? "yes" : "no"
          ]
        }),
        notes: [
          "`node packages/cli/dist/bundle/bin.js <args>` (the bundled executable) timed from spawn to exit; `get` joins a `kad-dht node --memory` on 127.0.0.1 as a client and fetches one value.",
          "Unbundled: `node packages/cli/dist/bin.js`, the same code as `tsc` emits it, one module per file.",
          "Off: NODE_DISABLE_COMPILE_CACHE=1; cold: an empty NODE_COMPILE_CACHE directory each run; warm: a directory filled by an earlier run.",
          `${cli.get("get|warm")?.length ?? 0} runs per cell.`
        ]
      }
      const charts: ReadonlyArray<BarChart> = [
        {
          title: "Library import, fresh process",
          unit: "ms",
          groups: importModes.map((mode) => ({
            label: `cache ${mode}`,
            bars: libraries.map((library) => ({ series: library.name, value: importMedian(library.name, mode) }))
          }))
        },
        {
          title: "kad-dht start to exit",
          unit: "ms",
          groups: commands.map((command) => ({
            label: command.name,
            bars: cliModes.map((mode) => ({ series: `cache ${mode}`, value: cliMedian(command.name, mode) }))
          }))
        }
      ]
      return {
        tables: [importTable, cliTable],
        charts,
        raw: { imports: Object.fromEntries(imports), cli: Object.fromEntries(cli) }
      }
    } finally {
      await node?.stop()
      killRunning()
      caches.close()
    }
  }
}
