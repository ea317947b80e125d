/**
 * Long churn: 30% of 1000 simulated nodes, and of 50 real DHT nodes on
 * loopback hosts, killed at random while readers read.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  activeResources,
  type ChurnFigures,
  loopbackChurn,
  settleResources,
  simulatedChurn,
  watchUnhandledRejections
} from "../reliability/support/churn.js"
import { report } from "../reliability/support/report.js"

const expectHealthy = (figures: ChurnFigures) => {
  expect(figures.lookupsWithDeadPeers).toBe(0)
  expect(figures.lookupAccuracy).toBeGreaterThanOrEqual(0.85)
  expect(figures.valuesFoundAfterRepublish).toBe(figures.reads)
  expect(figures.providersFoundAfterRepublish).toBe(figures.reads)
}

describe("soak: churn", () => {
  it("1000 simulated nodes, 300 killed in 10 waves", async () => {
    const before = activeResources()
    const rejections = watchUnhandledRejections()
    const figures = await Effect.runPromise(
      Effect.scoped(simulatedChurn({ size: 1000, killFraction: 0.3, items: 40, waves: 10, readers: 30 }))
    ).finally(rejections.stop)
    const leaked = await settleResources(before)
    report("soak churn: simulated", { ...figures, unhandledRejections: rejections.seen.length, leaked })
    expectHealthy(figures)
    expect(rejections.seen).toEqual([])
    expect(leaked).toEqual({})
  })

  it("50 loopback hosts, 15 stopped in 5 waves", async () => {
    const before = activeResources()
    const rejections = watchUnhandledRejections()
    const figures = await loopbackChurn({ size: 50, killFraction: 0.3, items: 12, waves: 5, readers: 12 }).finally(
      rejections.stop
    )
    const leaked = await settleResources(before)
    report("soak churn: loopback", { ...figures, unhandledRejections: rejections.seen.length, leaked })
    expectHealthy(figures)
    expect(rejections.seen).toEqual([])
    expect(leaked).toEqual({})
  })
})
