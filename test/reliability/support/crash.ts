/**
 * The crash-safety experiment: run the durable writer in a child process,
 * SIGKILL it at a random moment in the middle of its stream of writes, then
 * reopen its datastore here and look for every write it acknowledged.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { dirname, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { RecordStore } from "@effect-kad/dht"
import { DatastoreProviderStore } from "@effect-kad/providers"
import { LevelDatastore } from "datastore-level"
import { Duration, Effect, Option } from "effect"
import { providerKeyOf, valueBytesOf, valueKeyOf, writerPeerId } from "../fixtures/durable-keys.js"

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(here, "../../..")
const WRITER = resolve(here, "../fixtures/durable-writer.ts")

/** What one killed run acknowledged. */
export interface CrashRun {
  readonly values: Array<number>
  readonly providers: Array<number>
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  /** Highest number the writer could have started writing. */
  readonly lastStarted: number
}

/**
 * Starts the writer on `dir` numbering from `first`, and SIGKILLs it once
 * it has acknowledged `killAfter` writes plus `jitterMillis` (so the kill
 * lands at an arbitrary point of a write, not just between two).
 */
export const runAndKill = (dir: string, first: number, killAfter: number, jitterMillis: number): Promise<CrashRun> =>
  new Promise((resolvePromise, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ["--conditions=@effect-kad/source", "--import", "tsx", WRITER, dir, String(first), "1000000"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }
    )
    const values: Array<number> = []
    const providers: Array<number> = []
    let stderr = ""
    let killing = false
    // never wait more than a minute for a child that does not get going
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      const [word, kind, n] = line.split(" ")
      if (word !== "ack") return
      if (kind === "value") values.push(Number(n))
      else providers.push(Number(n))
      if (!killing && values.length + providers.length >= killAfter) {
        killing = true
        setTimeout(() => child.kill("SIGKILL"), jitterMillis)
      }
    })
    child.on("error", reject)
    child.on("exit", (_code, signal) => {
      clearTimeout(guard)
      const acked = [...values, ...providers]
      resolvePromise({
        values,
        providers,
        signal,
        stderr,
        lastStarted: acked.length === 0 ? first : Math.max(...acked) + 1
      })
    })
  })

/** What reopening the datastore after the crashes found. */
export interface CrashCheck {
  readonly missingValues: Array<number>
  readonly missingProviders: Array<number>
  readonly wrongValues: Array<number>
  /** Entries the stores' cleanup found unreadable or expired (a clean store has none). */
  readonly unreadable: number
}

/** Reopens `dir` and looks up every acknowledged record. */
export const checkAcknowledged = (
  dir: string,
  values: ReadonlyArray<number>,
  providers: ReadonlyArray<number>
): Promise<CrashCheck> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const datastore = new LevelDatastore(dir)
        yield* Effect.acquireRelease(
          Effect.promise(() => datastore.open()),
          () => Effect.promise(() => datastore.close())
        )
        const records = yield* RecordStore.make({ datastore, cleanupInterval: Duration.infinity })
        const providerStore = yield* Effect.acquireRelease(
          Effect.sync(() => new DatastoreProviderStore(datastore, { cacheSize: 0 })),
          (store) => Effect.promise(() => store.close())
        )
        const writer = (yield* Effect.promise(writerPeerId)).toString()
        const missingValues: Array<number> = []
        const wrongValues: Array<number> = []
        for (const n of values) {
          const stored = yield* Effect.orDie(records.get(valueKeyOf(n)))
          if (Option.isNone(stored)) missingValues.push(n)
          else if (Buffer.compare(Buffer.from(stored.value.value), Buffer.from(valueBytesOf(n))) !== 0)
            wrongValues.push(n)
        }
        const missingProviders: Array<number> = []
        for (const n of providers) {
          const found = yield* Effect.promise(() => providerStore.getProviders(providerKeyOf(n)))
          if (!found.some((p) => p.id.toString() === writer && p.multiaddrs.length > 0)) missingProviders.push(n)
        }
        const unreadable =
          (yield* Effect.orDie(records.cleanup)) + (yield* Effect.promise(() => providerStore.cleanup()))
        return { missingValues, missingProviders, wrongValues, unreadable }
      })
    )
  )
