/**
 * go-libp2p-kad-dht as a benchmark contender: the interop suite's go peer
 * program (`test/interop/peers/go`, built outside the checkout by
 * `buildPeer("go")`), one process per node, driven over stdin/stdout with
 * the JSON-lines protocol of `test/interop/peers/PROTOCOL.md`.
 *
 * Every node is its own process, so its CPU time and memory can be read
 * from /proc (`bench/support/proc.ts`), as the js servers' are.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Effect } from "effect"
import { buildPeer } from "../../test/interop/support/external-peer.js"

/** go-libp2p-kad-dht, as tables and charts name it. */
export const GO = "go-libp2p-kad-dht"

/** How long one request may take; the peer's own deadline per operation is 30 s. */
const REQUEST_TIMEOUT_MILLIS = 45_000

/** How long the program may take to print its ready line. */
const READY_TIMEOUT_MILLIS = 30_000

/** A running go peer process. */
export interface GoPeer {
  readonly pid: number
  readonly peerId: PeerId
  /** Its listen addresses, with `/p2p/<id>`, ready to dial. */
  readonly addresses: ReadonlyArray<Multiaddr>
  /** Sends one command and resolves with its answer; rejects with the peer's error or after a timeout. */
  readonly request: (cmd: string, args?: Record<string, unknown>) => Promise<Record<string, unknown>>
  /** Asks the process to stop; kills it (by its pid) if it has not exited within a few seconds. */
  readonly stop: () => Promise<void>
}

/** The go-libp2p-kad-dht version the peer program is built with, read from its go.mod. */
export const goDhtVersion = (): string => {
  const goMod = readFileSync(new URL("../../test/interop/peers/go/go.mod", import.meta.url), "utf8")
  return /github\.com\/libp2p\/go-libp2p-kad-dht (v\S+)/.exec(goMod)?.[1] ?? "?"
}

/** Builds the go peer program (warm: a second or two) and returns its path. */
export const buildGoPeer = (): Promise<string> => Effect.runPromise(buildPeer("go"))

const exited = (child: ChildProcess, millis: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), millis)
        child.once("exit", () => {
          clearTimeout(timer)
          resolve(true)
        })
      })

/**
 * Starts a go peer in server mode on 127.0.0.1 with `flags` added
 * (`--bench`, `--no-auto-refresh`: see PROTOCOL.md).
 */
export const startGoPeer = async (
  binary: string,
  flags: ReadonlyArray<string>,
  log: (line: string) => void = () => undefined
): Promise<GoPeer> => {
  const child = spawn(binary, ["--mode", "server", "--listen", "/ip4/127.0.0.1/tcp/0", ...flags], {
    stdio: ["pipe", "pipe", "pipe"]
  })
  createInterface({ input: child.stderr! }).on("line", log)
  child.stdin?.on("error", () => {
    // the process exited; pending requests fail through the exit handler
  })
  const pending = new Map<number, { resolve: (answer: Record<string, unknown>) => void; reject: (e: Error) => void }>()
  let onReady: ((line: Record<string, unknown>) => void) | undefined
  let onFail: ((error: Error) => void) | undefined
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    onReady = resolve
    onFail = reject
  })
  child.once("error", (error) => onFail?.(error))
  child.once("exit", (code, signal) => {
    const error = new Error(`go peer exited (${code ?? signal})`)
    onFail?.(error)
    for (const waiter of pending.values()) waiter.reject(error)
    pending.clear()
  })
  const lines = createInterface({ input: child.stdout! })
  lines.on("line", (line) => {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(line)
    } catch {
      log(`(stdout) ${line}`)
      return
    }
    if (message.event === "ready") {
      onReady?.(message)
      return
    }
    const waiter = typeof message.id === "number" ? pending.get(message.id) : undefined
    if (waiter === undefined) return
    pending.delete(message.id as number)
    if (message.ok === true) waiter.resolve(message)
    else waiter.reject(new Error(String(message.error ?? "failed without a reason")))
  })
  const timer = setTimeout(() => onFail?.(new Error("go peer printed no ready line")), READY_TIMEOUT_MILLIS)
  let readyLine: Record<string, unknown>
  try {
    readyLine = await ready
  } catch (error) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL")
    throw error
  } finally {
    clearTimeout(timer)
  }

  let nextId = 1
  const request = (cmd: string, args: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error("go peer has exited"))
        return
      }
      const id = nextId++
      const timeout = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`go peer: no answer to ${cmd} in ${REQUEST_TIMEOUT_MILLIS / 1000} s`))
      }, REQUEST_TIMEOUT_MILLIS)
      pending.set(id, {
        resolve: (answer) => {
          clearTimeout(timeout)
          resolve(answer)
        },
        reject: (error) => {
          clearTimeout(timeout)
          reject(error)
        }
      })
      child.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
    })

  const peerId = peerIdFromString(String(readyLine.peerId))
  return {
    pid: child.pid ?? -1,
    peerId,
    addresses: (readyLine.addrs as ReadonlyArray<string>).map((a) => multiaddr(`${a}/p2p/${peerId.toString()}`)),
    request,
    stop: async () => {
      lines.close()
      if (await exited(child, 0)) return
      child.stdin?.write(`${JSON.stringify({ id: nextId++, cmd: "stop" })}\n`)
      child.stdin?.end()
      if (!(await exited(child, 5_000)) && child.pid !== undefined) {
        process.kill(child.pid, "SIGKILL")
        await exited(child, 2_000)
      }
    }
  }
}
