/**
 * Running part of a benchmark in a child Node process: a server whose CPU
 * time and memory must not mix with the load generator's, or a simulation
 * that needs its own heap flags (`--expose-gc`, a larger heap).
 *
 * The parent calls named commands over the IPC channel and awaits their
 * results; the child answers them with {@link serveCommands}. The child's
 * stdout and stderr are forwarded to the parent's progress log, so a
 * suite's stdout stays its tables.
 *
 * @module
 */
import { type ChildProcess, fork } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

interface CallMessage {
  readonly id: number
  readonly command: string
  readonly argument: unknown
}

type ReplyMessage =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }

/** A running child process that answers commands. */
export interface Worker {
  readonly pid: number
  /** Runs `command` in the child with a structured-clonable argument; rejects with the child's error. */
  readonly call: <A>(command: string, argument?: unknown) => Promise<A>
  /** Asks the child to exit, and kills it (by its pid) if it has not within `graceMillis`. */
  readonly close: (graceMillis?: number) => Promise<void>
}

/** How to start a worker. */
export interface WorkerOptions {
  /** Arguments for the child's `process.argv`. */
  readonly args?: ReadonlyArray<string>
  /** Node flags added to the parent's own (which carry the TypeScript loader and source conditions). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Where the child's output lines go. */
  readonly log: (line: string) => void
}

/**
 * Forks `entry` (a module that calls {@link serveCommands}) and resolves
 * once it is ready to take commands.
 *
 * @example
 * ```ts
 * const worker = await startWorker(new URL("./support/server.ts", import.meta.url), { log })
 * const peer = await worker.call<string>("start", { impl: "ours" })
 * await worker.close()
 * ```
 */
export const startWorker = (entry: URL, options: WorkerOptions): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(fileURLToPath(entry), [...(options.args ?? [])], {
      execArgv: [...process.execArgv, ...(options.nodeFlags ?? [])],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      // structured clone, so byte arrays cross as byte arrays
      serialization: "advanced"
    })
    for (const output of [child.stdout, child.stderr]) {
      if (output !== null) createInterface({ input: output }).on("line", (line) => options.log(line))
    }
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
    let nextId = 0
    let exited = false
    const exit = new Promise<void>((resolveExit) => {
      child.once("exit", (code, signal) => {
        exited = true
        for (const waiter of pending.values()) {
          waiter.reject(new Error(`worker exited (code ${code}, signal ${signal}) before answering`))
        }
        pending.clear()
        resolveExit()
      })
    })
    child.once("error", reject)
    child.on("message", (message: ReplyMessage | "ready") => {
      if (message === "ready") {
        resolve(worker)
        return
      }
      const waiter = pending.get(message.id)
      if (waiter === undefined) return
      pending.delete(message.id)
      if (message.ok) waiter.resolve(message.value)
      else waiter.reject(new Error(message.error))
    })
    void exit.then(() => reject(new Error("worker exited before it was ready")))

    const worker: Worker = {
      pid: child.pid ?? -1,
      call: <A>(command: string, argument?: unknown) =>
        new Promise<A>((resolveCall, rejectCall) => {
          if (exited) {
            rejectCall(new Error("worker has exited"))
            return
          }
          const id = nextId++
          pending.set(id, { resolve: resolveCall as (value: unknown) => void, reject: rejectCall })
          child.send({ id, command, argument } satisfies CallMessage)
        }),
      close: async (graceMillis = 15_000) => {
        if (exited) return
        if (child.connected) child.disconnect()
        const timer = setTimeout(() => {
          if (!exited && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
        }, graceMillis)
        await exit
        clearTimeout(timer)
      }
    }
  })

/**
 * The child's side: answers the parent's commands with `handlers`, one at
 * a time in arrival order, and exits when the parent disconnects (after
 * `onClose`, which releases whatever the handlers started).
 */
export const serveCommands = (
  handlers: Record<string, (argument: never) => Promise<unknown>>,
  onClose: () => Promise<void> = async () => undefined
): void => {
  if (process.send === undefined) throw new Error("not started as a worker (no IPC channel)")
  const send = process.send.bind(process)
  let queue = Promise.resolve()
  process.on("message", (message: CallMessage) => {
    queue = queue.then(async () => {
      const handler = handlers[message.command]
      try {
        if (handler === undefined) throw new Error(`unknown command ${message.command}`)
        const value = await handler(message.argument as never)
        send({ id: message.id, ok: true, value } satisfies ReplyMessage)
      } catch (error) {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
        send({ id: message.id, ok: false, error: text } satisfies ReplyMessage)
      }
    })
  })
  process.once("disconnect", () => {
    void queue
      .then(onClose)
      .catch((error) => console.error("worker shutdown failed:", error))
      .finally(() => process.exit(0))
  })
  send("ready")
}
