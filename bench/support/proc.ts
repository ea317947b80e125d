/**
 * A process's CPU time and resident memory read from /proc (Linux), so
 * that every server process of a suite, whatever its language, is measured
 * the same way from outside.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"

/** What a process has used so far. */
export interface ProcessUsage {
  /** User + system CPU time since the process started, in milliseconds. */
  readonly cpuMillis: number
  /** Resident set size now (VmRSS), in bytes. */
  readonly rss: number
}

let ticksPerSecond: number | undefined

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, almost always 100). */
const clockTicks = (): number => {
  if (ticksPerSecond === undefined) {
    const text = execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 5_000 }).trim()
    const ticks = Number(text)
    ticksPerSecond = Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  }
  return ticksPerSecond
}

/**
 * CPU time (utime + stime of /proc/<pid>/stat, clock ticks turned into
 * milliseconds) and RSS (VmRSS of /proc/<pid>/status) of process `pid`.
 * The clock-tick resolution is 10 ms: measure over seconds.
 */
export const processUsage = (pid: number): ProcessUsage => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // the command name (field 2) is in parentheses and may hold spaces: count fields after its closing one
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are fields[11] and fields[12]
  const ticks = Number(fields[11]) + Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const rssKiB = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN)
  return { cpuMillis: (ticks * 1000) / clockTicks(), rss: rssKiB * 1024 }
}
