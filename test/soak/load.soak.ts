/**
 * A long flood: 40 loopback peers × 6 request loops against one DHT server
 * for up to four minutes, RSS sampled every second. Memory must level off:
 * the last third of the run may not climb past the middle third.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadRun, rssSeries } from "../reliability/support/load.js"
import { report } from "../reliability/support/report.js"

describe("soak: load", () => {
  it("40 peers flooding one server for minutes: every answer in time, memory levels off", async () => {
    const figures = await Effect.runPromise(
      loadRun({
        clients: 40,
        workersPerClient: 6,
        requestsPerWorker: 1_000,
        maxMillis: Number(process.env.SOAK_LOAD_SECONDS ?? 240) * 1000,
        requestTimeoutMillis: 10_000,
        sampleEveryMillis: 1_000
      })
    )
    const { rss, ...rest } = figures
    const third = Math.floor(rss.length / 3)
    const peak = (samples: typeof rss) => Math.max(...samples.map((s) => s.rssMiB))
    const middle = peak(rss.slice(third, 2 * third))
    const last = peak(rss.slice(2 * third))
    report("soak load: flood", {
      ...rest,
      rssStartMiB: rss[0].rssMiB,
      rssMiddlePeakMiB: middle,
      rssLastPeakMiB: last,
      rss: rssSeries(rss, 24)
    })
    expect(figures.failed).toBe(0)
    expect(figures.answered).toBe(figures.requests)
    expect(last).toBeLessThanOrEqual(middle * 1.15 + 32)
  })
})
