/**
 * The machine a benchmark ran on, recorded with every result so numbers are
 * never compared across machines by accident.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import os from "node:os"

/** Hardware and runtime of the current process. */
export interface MachineInfo {
  readonly cpuModel: string
  /** Logical CPUs available to this process (what `nproc` prints). */
  readonly cpus: number
  readonly totalMemoryGiB: number
  readonly platform: string
  readonly arch: string
  readonly node: string
}

const cpuModelFromProc = (): string | undefined => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"))
    return line?.split(":")[1]?.trim()
  } catch {
    return undefined
  }
}

/** Describes this machine and Node runtime. */
export const machineInfo = (): MachineInfo => ({
  cpuModel: cpuModelFromProc() ?? os.cpus()[0]?.model ?? "unknown",
  cpus: os.availableParallelism(),
  totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  platform: os.platform(),
  arch: os.arch(),
  node: process.version
})

/** One line for logs and README sections. */
export const describeMachine = (m: MachineInfo): string =>
  `${m.cpuModel}, ${m.cpus} CPUs, ${m.totalMemoryGiB} GiB, ${m.platform}/${m.arch}, Node ${m.node}`
