/**
 * What a benchmark suite is and what it hands back to `bench/run.ts`.
 *
 * A suite measures, then returns tables (printed and saved as JSON) and bar
 * charts (saved as one SVG per suite). It never writes files itself.
 *
 * @module
 */

/** A cell of a result table: numbers are formatted by the printer, strings shown as they are. */
export type Cell = string | number

/** One table of results. */
export interface ResultTable {
  readonly title: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<Cell>>
  /** Lines printed under the table: what was measured and how. */
  readonly notes?: ReadonlyArray<string>
}

/** One bar of a chart group. */
export interface Bar {
  readonly series: string
  readonly value: number
}

/** Bars drawn side by side (for example one per implementation at one table size). */
export interface BarGroup {
  readonly label: string
  readonly bars: ReadonlyArray<Bar>
}

/** A grouped bar chart. */
export interface BarChart {
  readonly title: string
  /** Unit of the values, shown on the axis (for example `ops/s`). */
  readonly unit: string
  /** Log-scale value axis, for results spanning orders of magnitude. */
  readonly logScale?: boolean
  readonly groups: ReadonlyArray<BarGroup>
}

/** Everything a suite reports. */
export interface SuiteResult {
  readonly tables: ReadonlyArray<ResultTable>
  readonly charts: ReadonlyArray<BarChart>
  /** Raw measurements (every sample), kept in the JSON file for later analysis. */
  readonly raw?: unknown
}

/** What `bench/run.ts` gives a running suite. */
export interface SuiteContext {
  /** `--quick`: smaller sizes and fewer iterations, for a smoke run. */
  readonly quick: boolean
  /** Progress output (stderr, so stdout stays the tables). */
  readonly log: (line: string) => void
  /** Milliseconds left of the suite's time budget; suites size their work to stay within it. */
  readonly remainingMillis: () => number
}

/** A registered benchmark suite. */
export interface Suite {
  /** CLI name, also the base name of its result files. */
  readonly name: string
  readonly description: string
  readonly run: (context: SuiteContext) => Promise<SuiteResult>
}
