/**
 * Fresh Node processes for the startup suite: an `import()` timed inside
 * a new process, a built `kad-dht` command timed from spawn to exit, and a
 * `kad-dht node` on loopback for the one-shot commands to reach.
 *
 * Every process runs on the Node that runs the suite, from the built
 * packages (no `@effect-kad/source` condition, no tsx): what a user of the
 * published packages starts.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

/** The workspace root, whose devDependencies make both DHT packages importable. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/** The built `kad-dht` executable, as `npx -y pnpm@10 build` bundles it (the package's `bin`). */
export const cliBin = path.join(repoRoot, "packages/cli/dist/bundle/bin.js")

/** The same executable as `tsc` emits it, one module per source file, for comparison. */
export const unbundledBin = path.join(repoRoot, "packages/cli/dist/bin.js")

/** A process is killed after this long: every run is bounded. */
const PROCESS_TIMEOUT_MILLIS = 60_000

/**
 * How Node's compile cache is set for a run: `off`
 * (`NODE_DISABLE_COMPILE_CACHE=1`), `cold` (an empty cache directory, so
 * the run compiles and writes it) or `warm` (a directory an earlier run
 * filled).
 */
export type CacheMode = "off" | "cold" | "warm"

/** Compile cache directories of one suite run, removed by `close`. */
export class CacheDirectories {
  private readonly root = mkdtempSync(path.join(tmpdir(), "effect-kad-startup-"))
  private readonly warm = new Map<string, string>()
  private count = 0

  /** The environment of a run of `label` in `mode`: `warm` reuses one directory per label. */
  env(mode: CacheMode, label: string): NodeJS.ProcessEnv {
    if (mode === "off") return { NODE_DISABLE_COMPILE_CACHE: "1", NODE_COMPILE_CACHE: undefined }
    if (mode === "cold") return { NODE_COMPILE_CACHE: this.fresh(), NODE_DISABLE_COMPILE_CACHE: undefined }
    let directory = this.warm.get(label)
    if (directory === undefined) {
      directory = this.fresh()
      this.warm.set(label, directory)
    }
    return { NODE_COMPILE_CACHE: directory, NODE_DISABLE_COMPILE_CACHE: undefined }
  }

  /** Removes every directory. */
  close(): void {
    rmSync(this.root, { recursive: true, force: true })
  }

  private fresh(): string {
    const directory = path.join(this.root, String(this.count++))
    return directory
  }
}

/** How a process ended and how long it took from spawn to exit. */
export interface Timed {
  readonly wallMillis: number
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const running = new Set<ChildProcess>()

const spawnNode = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ChildProcess => {
  const child = spawn(process.execPath, [...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", NODE_OPTIONS: undefined, ...env }
  })
  running.add(child)
  child.once("exit", () => running.delete(child))
  return child
}

/** Runs `node <args>` to its exit, timing it from spawn. */
export const timeNode = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<Timed> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawnNode(args, env)
    let stdout = ""
    let stderr = ""
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), PROCESS_TIMEOUT_MILLIS)
    child.once("error", reject)
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ wallMillis: performance.now() - started, code, stdout, stderr })
    })
  })

/** Milliseconds an `import()` took inside a fresh process, and the whole process's wall time. */
export interface ImportTime {
  readonly importMillis: number
  readonly wallMillis: number
}

/**
 * Imports `specifiers` one after the other in a fresh `node` (an ES module
 * script run from the workspace root) and reads back how long the
 * `import()`s took together.
 */
export const timeImport = async (
  specifiers: string | ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = {}
): Promise<ImportTime> => {
  const list = typeof specifiers === "string" ? [specifiers] : specifiers
  const specifier = list.join(" + ")
  const script = [
    "const started = performance.now()",
    ...list.map((one) => `await import(${JSON.stringify(one)})`),
    "process.stdout.write(String(performance.now() - started))"
  ].join("\n")
  const run = await timeNode(["--input-type=module", "--eval", script], env)
  const importMillis = Number(run.stdout)
  if (run.code !== 0 || !Number.isFinite(importMillis)) {
    throw new Error(`import(${specifier}) failed (exit ${run.code}): ${run.stderr.slice(0, 500)}`)
  }
  return { importMillis, wallMillis: run.wallMillis }
}

/**
 * Fails unless the packages were built after their sources last changed:
 * the suite times `dist/`, and stale output would time other code. Each
 * TypeScript source must have its compiled `.js` at least as new.
 */
export const checkBuilt = (packages: ReadonlyArray<string>): void => {
  for (const name of packages) {
    const source = path.join(repoRoot, "packages", name, "src")
    const output = path.join(repoRoot, "packages", name, "dist")
    for (const file of readdirSync(source, { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue
      const built = path.join(output, file.replace(/\.ts$/, ".js"))
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(path.join(source, file)).mtimeMs) {
        throw new Error(
          `packages/${name}/dist is missing or older than src/${file}: run \`npx -y pnpm@10 build\` first`
        )
      }
    }
  }
  if (!existsSync(cliBin) || statSync(cliBin).mtimeMs < statSync(unbundledBin).mtimeMs) {
    throw new Error("packages/cli/dist/bundle is missing or older than dist/bin.js: run `npx -y pnpm@10 build` first")
  }
}

/** A `kad-dht node` running on loopback. */
export interface LocalNode {
  /** Its TCP address with `/p2p/<peer id>`. */
  readonly address: string
  /** Stops it (SIGTERM) and waits for it to exit. */
  readonly stop: () => Promise<void>
}

/** Starts the built `kad-dht node --memory` on 127.0.0.1 and waits for its `started` line. */
export const startLocalNode = (): Promise<LocalNode> =>
  new Promise((resolve, reject) => {
    const child = spawnNode(
      [cliBin, "node", "--memory", "--json", "--listen", "/ip4/127.0.0.1/tcp/0", "--health-interval", "3600"],
      {}
    )
    let stdout = ""
    let stderr = ""
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`kad-dht node did not start within ${PROCESS_TIMEOUT_MILLIS} ms: ${stderr.slice(0, 500)}`))
    }, PROCESS_TIMEOUT_MILLIS)
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const line = stdout.split("\n").find((l) => l.includes('"event":"started"'))
      if (line === undefined) return
      clearTimeout(timer)
      const started = JSON.parse(line) as { addresses: ReadonlyArray<string> }
      const address = started.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/tcp/") && !a.includes("/ws"))
      if (address === undefined) {
        child.kill("SIGKILL")
        reject(new Error(`kad-dht node printed no loopback TCP address: ${line}`))
        return
      }
      resolve({
        address,
        stop: async () => {
          child.kill("SIGTERM")
          const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
          await exited
          clearTimeout(killer)
        }
      })
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`kad-dht node exited with ${code} before starting: ${stderr.slice(0, 500)}`))
    })
  })

/** Kills whatever process of this module is still running (after a failure). */
export const killRunning = (): void => {
  for (const child of running) child.kill("SIGKILL")
}
