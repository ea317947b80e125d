/**
 * Drives `kad-dht` as a subprocess, the way a user runs it: the Node 24
 * running vitest, with the workspace's source condition and tsx.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
const nodeArgs = ["--conditions=@effect-kad/source", "--import", "tsx", bin]

const running = new Set<ChildProcess>()

/** What a finished command printed, and how it exited. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const spawnCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): ChildProcess => {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env }
  })
  running.add(child)
  child.once("exit", () => running.delete(child))
  return child
}

const finished = (child: ChildProcess, output: { stdout: string; stderr: string }): Promise<Finished> =>
  new Promise((resolve, reject) => {
    child.once("error", reject)
    child.once("close", (code, signal) => resolve({ code, signal, ...output }))
  })

const collect = (child: ChildProcess): { stdout: string; stderr: string } => {
  const output = { stdout: "", stderr: "" }
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    output.stdout += chunk
  })
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output.stderr += chunk
  })
  return output
}

/** Runs a command to completion (killed after `timeoutMillis`), with `env` added to the environment. */
export const runCli = async (
  args: ReadonlyArray<string>,
  timeoutMillis = 90_000,
  env: NodeJS.ProcessEnv = {}
): Promise<Finished> => {
  const child = spawnCli(args, env)
  const output = collect(child)
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMillis)
  try {
    return await finished(child, output)
  } finally {
    clearTimeout(timer)
  }
}

/** The JSON objects a command printed on stdout, one per line. */
export const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>)

/** A running `kad-dht node`. */
export interface RunningNode {
  readonly child: ChildProcess
  /** The `started` event it printed. */
  readonly started: { readonly peerId: string; readonly addresses: ReadonlyArray<string>; readonly identity: string }
  /** Sends SIGTERM and waits for the process to end. */
  readonly stop: () => Promise<Finished>
}

/** Starts `kad-dht node --json ...` and waits for its `started` line. */
export const startNode = (args: ReadonlyArray<string>, timeoutMillis = 60_000): Promise<RunningNode> => {
  const child = spawnCli(["node", "--json", ...args])
  const output = collect(child)
  const exited = finished(child, output)
  return new Promise<RunningNode>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`node did not start within ${timeoutMillis} ms; stderr: ${output.stderr}`))
    }, timeoutMillis)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`node exited with ${code} before starting; stderr: ${output.stderr}`))
    })
    child.stdout?.on("data", () => {
      const line = output.stdout.split("\n").find((l) => l.includes('"event":"started"'))
      if (line === undefined) return
      clearTimeout(timer)
      const started = JSON.parse(line) as RunningNode["started"]
      resolve({
        child,
        started,
        stop: () => {
          child.kill("SIGTERM")
          return exited
        }
      })
    })
  })
}

/** Kills every command still running; for `afterEach`. */
export const killAll = async (): Promise<void> => {
  const children = [...running]
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once("exit", () => resolve())
          child.kill("SIGKILL")
        })
    )
  )
}
