/**
 * Crash safety of the durable stores: a process writing value records and
 * provider records to a LevelDB datastore is SIGKILLed at random moments,
 * several times on the same directory; after each kill the datastore opens
 * cleanly and every write acknowledged before the kill is there.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { checkAcknowledged, runAndKill } from "./support/crash.js"
import { report } from "./support/report.js"

describe("durable stores killed with SIGKILL mid-stream", () => {
  it("every acknowledged put and provide survives three kills on one directory, and the store opens cleanly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "effect-kad-crash-"))
    try {
      const values: Array<number> = []
      const providers: Array<number> = []
      let next = 0
      const kills: Array<number> = []
      for (let round = 0; round < 3; round++) {
        const killAfter = 100 + Math.floor(Math.random() * 900)
        const run = await runAndKill(dir, next, killAfter, Math.floor(Math.random() * 15))
        expect(run.stderr).toBe("")
        expect(run.signal).toBe("SIGKILL")
        values.push(...run.values)
        providers.push(...run.providers)
        kills.push(run.values.length + run.providers.length)
        next = run.lastStarted + 1
        const check = await checkAcknowledged(dir, values, providers)
        expect(check.missingValues).toEqual([])
        expect(check.wrongValues).toEqual([])
        expect(check.missingProviders).toEqual([])
        expect(check.unreadable).toBe(0)
      }
      report("persistence: SIGKILL during puts and provides", {
        kills: kills.length,
        ackedPerRun: kills,
        valuesAcked: values.length,
        providersAcked: providers.length,
        recordsLost: 0
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
