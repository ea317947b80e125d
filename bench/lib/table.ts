/**
 * Printing result tables: aligned plain text for the terminal, Markdown for
 * the README.
 *
 * @module
 */
import type { Cell, ResultTable } from "./suite.js"

/**
 * A number as a reader wants it in a table: thousands separators from 100
 * up, three significant digits below (rates under 1/s keep their decimals).
 *
 * @example
 * ```ts
 * formatNumber(1234567.8) // "1,234,568"
 * formatNumber(0.01234) // "0.0123"
 * ```
 */
export const formatNumber = (n: number): string => {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US")
  if (n === 0) return "0"
  return Number(n.toPrecision(3)).toString()
}

/** A ratio as `12.3×`. */
export const formatRatio = (n: number): string => (Number.isFinite(n) ? `${formatNumber(n)}×` : "n/a")

const cellText = (cell: Cell): string => (typeof cell === "number" ? formatNumber(cell) : cell)

/** The table as aligned text: numbers right-aligned, text left-aligned. */
export const formatTable = (table: ResultTable): string => {
  const header = table.columns
  const body = table.rows.map((row) => row.map(cellText))
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] ?? "").length)))
  const numeric = header.map((_, c) =>
    table.rows.every((row) => typeof row[c] === "number" || /×$/.test(String(row[c])))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ")
  const out = [table.title, line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)]
  for (const note of table.notes ?? []) out.push(`  ${note}`)
  return out.join("\n")
}

/** The table as GitHub Markdown (title as a bold line, notes as a list). */
export const markdownTable = (table: ResultTable): string => {
  const header = table.columns
  const numeric = header.map((_, c) =>
    table.rows.every((row) => typeof row[c] === "number" || /×$/.test(String(row[c])))
  )
  const out = [
    `**${table.title}**`,
    "",
    `| ${header.join(" | ")} |`,
    `| ${numeric.map((n) => (n ? "---:" : "---")).join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(cellText).join(" | ")} |`)
  ]
  if ((table.notes ?? []).length > 0) out.push("", ...(table.notes ?? []).map((n) => `- ${n}`))
  return out.join("\n")
}
