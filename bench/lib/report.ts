/**
 * Saving a suite's results: `bench/results/<suite>.json` (every number,
 * with the machine and the time) and `bench/results/<suite>.svg` (its
 * charts). Both are outputs, never committed.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs"
import path from "node:path"
import type { MachineInfo } from "./machine.js"
import type { SuiteResult } from "./suite.js"
import { chartsSvg } from "./svg.js"

/** The JSON document written for one suite run. */
export interface SavedResult {
  readonly suite: string
  readonly description: string
  readonly startedAt: string
  readonly durationMillis: number
  readonly quick: boolean
  readonly machine: MachineInfo
  readonly result: SuiteResult
}

/** Writes the JSON and SVG files of one suite; returns their paths. */
export const saveResult = (directory: string, saved: SavedResult): { json: string; svg: string | undefined } => {
  mkdirSync(directory, { recursive: true })
  const json = path.join(directory, `${saved.suite}.json`)
  writeFileSync(json, `${JSON.stringify(saved, null, 2)}\n`)
  if (saved.result.charts.length === 0) return { json, svg: undefined }
  const svg = path.join(directory, `${saved.suite}.svg`)
  const heading = `${saved.suite} — ${saved.machine.cpuModel}, ${saved.machine.cpus} CPUs, Node ${saved.machine.node}, ${saved.startedAt}`
  writeFileSync(svg, chartsSvg(heading, saved.result.charts))
  return { json, svg }
}
