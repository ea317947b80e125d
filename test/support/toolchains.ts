/**
 * Which optional toolchains (Go, Cargo, a browser) this machine has, for
 * suites that build interop peers or drive a real browser. A suite whose
 * toolchain is missing is skipped with a notice naming it; with
 * `EFFECT_KAD_REQUIRE_ALL_SUITES=1` (set by `.ci/run`) a missing toolchain
 * fails the run instead, so CI never passes by skipping.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { homedir } from "node:os"
import { join } from "node:path"

/** A command a suite needs. */
export type Toolchain = "go" | "cargo" | "chromium"

/** The Chromium executable browser suites drive: `CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`. */
export const chromiumExecutable: string = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

const probes: Record<Toolchain, ReadonlyArray<string>> = {
  go: ["go", "version"],
  cargo: ["cargo", "--version"],
  chromium: [chromiumExecutable, "--version"]
}

const known = new Map<Toolchain, boolean>()

/** Whether `tool` runs here (checked once per process). */
export const hasToolchain = (tool: Toolchain): boolean => {
  let found = known.get(tool)
  if (found === undefined) {
    const [command, ...args] = probes[tool]
    try {
      execFileSync(command, args, { stdio: "ignore", timeout: 30_000 })
      found = true
    } catch {
      found = false
    }
    known.set(tool, found)
  }
  return found
}

/** Whether missing toolchains fail the run (CI) rather than skip suites. */
export const requireAllSuites = (): boolean => process.env.EFFECT_KAD_REQUIRE_ALL_SUITES === "1"

/**
 * Whether `suite` can run: true when every tool is present. Otherwise prints
 * a notice naming the suite and the missing tools and returns false, or
 * throws when all suites are required.
 *
 * @example
 * ```ts
 * describe.runIf(suiteCanRun("go interop", ["go"]))("go-libp2p-kad-dht", () => { ... })
 * ```
 */
export const suiteCanRun = (suite: string, tools: ReadonlyArray<Toolchain>): boolean => {
  const missing = tools.filter((tool) => !hasToolchain(tool))
  if (missing.length === 0) return true
  const notice = `${suite}: needs ${missing.join(", ")}, not found on this machine`
  if (requireAllSuites()) throw new Error(`${notice} (EFFECT_KAD_REQUIRE_ALL_SUITES=1)`)
  process.stderr.write(`\nNOTICE: skipped suite ${notice}\n`)
  return false
}

/**
 * Where builds of interop peers go: outside the checkout, so reruns on one
 * machine reuse them (`EFFECT_KAD_BUILD_CACHE`, default `~/.cache/effect-kad`).
 */
export const buildCacheDir = (...parts: ReadonlyArray<string>): string =>
  join(
    process.env.EFFECT_KAD_BUILD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "effect-kad"),
    ...parts
  )
