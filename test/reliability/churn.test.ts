/**
 * Churn: 30% of the nodes die at random while readers keep reading. Lookups
 * still converge on live peers, what was put and provided before is still
 * found (and after the publishers republish, all of it), nothing rejects
 * unhandled, and once the network is closed no socket or timer is left.
 * The soak suite runs the same experiments at 1000 simulated nodes and 50
 * loopback hosts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChurnFigures, loopbackChurn, simulatedChurn, watchedChurn } from "./support/churn.js"

const expectHealthy = (figures: ChurnFigures) => {
  expect(figures.killed).toBe(Math.floor(figures.nodes * 0.3))
  expect(figures.lookupsWithDeadPeers).toBe(0)
  expect(figures.lookupAccuracy).toBeGreaterThanOrEqual(0.85)
  expect(figures.readsDuringChurn).toBeGreaterThan(0)
  expect(figures.valuesFoundAfterRepublish).toBe(figures.reads)
  expect(figures.providersFoundAfterRepublish).toBe(figures.reads)
}

describe("churn", () => {
  it("150 simulated nodes, 30% killed during reads: lookups converge, records survive, nothing leaks", async () => {
    const { figures, rejections, leaked } = await watchedChurn("churn: simulated", () =>
      Effect.runPromise(
        Effect.scoped(simulatedChurn({ size: 150, killFraction: 0.3, items: 10, waves: 4, readers: 10 }))
      )
    )
    expectHealthy(figures)
    expect(rejections).toEqual([])
    expect(leaked).toEqual({})
  }, 120_000)

  it("12 loopback hosts, 30% stopped during reads: lookups converge, records survive, no socket or timer left", async () => {
    const { figures, rejections, leaked } = await watchedChurn("churn: loopback", () =>
      loopbackChurn({ size: 12, killFraction: 0.3, items: 4, waves: 2, readers: 4 })
    )
    expectHealthy(figures)
    expect(rejections).toEqual([])
    expect(leaked).toEqual({})
  }, 180_000)
})
