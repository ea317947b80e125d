/**
 * Many crashes: the durable writer SIGKILLed 25 times on one directory,
 * every acknowledged write checked after each kill.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { checkAcknowledged, runAndKill } from "../reliability/support/crash.js"
import { report } from "../reliability/support/report.js"

describe("soak: crash safety", () => {
  it("25 SIGKILLs during puts and provides lose no acknowledged write", async () => {
    const dir = await mkdtemp(join(tmpdir(), "effect-kad-crash-soak-"))
    try {
      const values: Array<number> = []
      const providers: Array<number> = []
      const acked: Array<number> = []
      let next = 0
      let lost = 0
      for (let round = 0; round < 25; round++) {
        const run = await runAndKill(dir, next, 100 + Math.floor(Math.random() * 3000), Math.floor(Math.random() * 25))
        expect(run.stderr).toBe("")
        expect(run.signal).toBe("SIGKILL")
        values.push(...run.values)
        providers.push(...run.providers)
        acked.push(run.values.length + run.providers.length)
        next = run.lastStarted + 1
        const check = await checkAcknowledged(dir, values, providers)
        lost += check.missingValues.length + check.missingProviders.length + check.wrongValues.length
        expect(check.missingValues).toEqual([])
        expect(check.wrongValues).toEqual([])
        expect(check.missingProviders).toEqual([])
        expect(check.unreadable).toBe(0)
      }
      report("soak persistence: SIGKILL rounds", {
        kills: acked.length,
        valuesAcked: values.length,
        providersAcked: providers.length,
        recordsLost: lost,
        ackedPerRun: acked
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
