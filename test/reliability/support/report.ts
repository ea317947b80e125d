/**
 * Figures the reliability and soak runs produce (inputs tried, faults
 * injected, records lost, RSS samples). Each is printed as one line, and
 * appended as JSON to the file named by `RELIABILITY_REPORT` when set, which
 * is how docs/reliability.md gets its numbers.
 */
import { appendFileSync } from "node:fs"

/** Prints one figure set, and records it when `RELIABILITY_REPORT` names a file. */
export const report = (label: string, figures: Readonly<Record<string, unknown>>): void => {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" ")
  console.info(`[reliability] ${label}: ${line}`)
  const file = process.env.RELIABILITY_REPORT
  if (file !== undefined && file.length > 0) {
    appendFileSync(file, `${JSON.stringify({ label, ...figures, at: new Date().toISOString() })}\n`)
  }
}
