/**
 * Long churn: 30% of 1000 simulated nodes, and of 50 real DHT nodes on
 * loopback hosts, killed at random while readers read.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChurnFigures, loopbackChurn, simulatedChurn, watchedChurn } from "../reliability/support/churn.js"

const expectHealthy = (figures: ChurnFigures) => {
  expect(figures.lookupsWithDeadPeers).toBe(0)
  expect(figures.lookupAccuracy).toBeGreaterThanOrEqual(0.85)
  expect(figures.valuesFoundAfterRepublish).toBe(figures.reads)
  expect(figures.providersFoundAfterRepublish).toBe(figures.reads)
}

describe("soak: churn", () => {
  it("1000 simulated nodes, 300 killed in 10 waves", async () => {
    const { figures, rejections, leaked } = await watchedChurn("soak churn: simulated", () =>
      Effect.runPromise(
        Effect.scoped(simulatedChurn({ size: 1000, killFraction: 0.3, items: 40, waves: 10, readers: 30 }))
      )
    )
    expectHealthy(figures)
    expect(rejections).toEqual([])
    expect(leaked).toEqual({})
  })

  it("50 loopback hosts, 15 stopped in 5 waves", async () => {
    const { figures, rejections, leaked } = await watchedChurn("soak churn: loopback", () =>
      loopbackChurn({ size: 50, killFraction: 0.3, items: 12, waves: 5, readers: 12 })
    )
    expectHealthy(figures)
    expect(rejections).toEqual([])
    expect(leaked).toEqual({})
  })
})
