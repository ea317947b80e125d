/**
 * Plain-text tables for terminal output.
 *
 * @module
 */

/** One column: its header and which side its cells are aligned to. */
export interface Column {
  readonly header: string
  readonly align?: "left" | "right"
}

// Terminal width of a string: code points, so "µ" or "…" count as one.
const width = (text: string): number => [...text].length

const pad = (text: string, size: number, align: "left" | "right"): string => {
  const fill = " ".repeat(Math.max(0, size - width(text)))
  return align === "right" ? fill + text : text + fill
}

/**
 * Renders rows under headers, each column as wide as its widest cell, with
 * a rule under the header line. Rows shorter than the header are padded
 * with empty cells.
 *
 * @example
 * ```ts
 * renderTable([{ header: "op" }, { header: "ms", align: "right" }], [["get", "12"]])
 * // op   ms
 * // ---  --
 * // get  12
 * ```
 */
export const renderTable = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = columns.map((column, i) => Math.max(width(column.header), ...rows.map((row) => width(row[i] ?? ""))))
  const line = (cells: ReadonlyArray<string>): string =>
    columns
      .map((column, i) => pad(cells[i] ?? "", widths[i], column.align ?? "left"))
      .join("  ")
      .trimEnd()
  return [line(columns.map((column) => column.header)), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join(
    "\n"
  )
}
