/**
 * Load: one DHT server on a loopback host takes a bounded flood of requests
 * from many peers at once. Every request is answered within the clients'
 * deadline, and the process's memory stays bounded while it lasts. The soak
 * suite runs the same flood for minutes and reports RSS over time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadRun, rssSeries } from "./support/load.js"
import { report } from "./support/report.js"

describe("a DHT server under a bounded flood of requests", () => {
  it("10 peers × 4 loops × 100 requests: all answered within 5 s, RSS bounded", async () => {
    const figures = await Effect.runPromise(
      loadRun({
        clients: 10,
        workersPerClient: 4,
        requestsPerWorker: 100,
        maxMillis: 60_000,
        requestTimeoutMillis: 5_000,
        sampleEveryMillis: 250
      })
    )
    const { rss, ...rest } = figures
    const peak = Math.max(...rss.map((s) => s.rssMiB))
    report("load: fast flood", { ...rest, rssStartMiB: rss[0].rssMiB, rssPeakMiB: peak, rss: rssSeries(rss) })
    expect(figures.requests).toBeGreaterThan(1000)
    expect(figures.failed).toBe(0)
    expect(figures.answered).toBe(figures.requests)
    expect(figures.maxMillis).toBeLessThan(5_000)
    // the flood may cost working memory, not an ever-growing heap: a generous bound on the growth
    expect(peak - rss[0].rssMiB).toBeLessThan(400)
  }, 120_000)
})
