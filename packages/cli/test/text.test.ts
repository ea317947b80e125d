import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ProgressBar, quantile, renderBar, renderTable, summarize } from "../src/index.js"

describe("summarize", () => {
  it("reports nearest-rank median and p95 whatever the order", () => {
    const samples = [50, 10, 40, 20, 30, 100, 90, 80, 70, 60]
    const summary = summarize(samples)
    expect(summary).toEqual({ count: 10, median: 50, p95: 100, min: 10, max: 100 })
  })

  it("gives NaN for no samples", () => {
    const summary = summarize([])
    expect(summary.count).toBe(0)
    expect(summary.median).toBeNaN()
    expect(summary.p95).toBeNaN()
  })

  it.prop(
    "a quantile is one of the samples, at least q of them are at or below it, and it grows with q",
    [
      fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 200 }),
      fc.double({ min: 0, max: 1, noNaN: true })
    ],
    ([samples, q]) => {
      const ascending = [...samples].sort((a, b) => a - b)
      const value = quantile(ascending, q)
      expect(ascending).toContain(value)
      expect(ascending.filter((s) => s <= value).length).toBeGreaterThanOrEqual(q * ascending.length)
      expect(quantile(ascending, Math.min(1, q + 0.1))).toBeGreaterThanOrEqual(value)
      const summary = summarize(samples)
      expect(summary.min).toBeLessThanOrEqual(summary.median)
      expect(summary.median).toBeLessThanOrEqual(summary.p95)
      expect(summary.p95).toBeLessThanOrEqual(summary.max)
    }
  )
})

describe("renderTable", () => {
  it("aligns columns to their widest cell and right-aligns numbers", () => {
    const table = renderTable(
      [{ header: "operation" }, { header: "ms", align: "right" }],
      [
        ["get", "12.5"],
        ["findProvidersAsync", "3.0"]
      ]
    )
    expect(table.split("\n")).toEqual([
      "operation             ms",
      "------------------  ----",
      "get                 12.5",
      "findProvidersAsync   3.0"
    ])
  })

  it.prop(
    "every line but trailing blanks is as wide as the header rule",
    [fc.array(fc.array(fc.string({ maxLength: 12 }), { minLength: 3, maxLength: 3 }), { maxLength: 10 })],
    ([rows]) => {
      const clean = rows.map((row) => row.map((cell) => cell.replace(/[\n\r]/g, "")))
      const lines = renderTable([{ header: "a" }, { header: "b", align: "right" }, { header: "c" }], clean).split("\n")
      expect(lines).toHaveLength(clean.length + 2)
      const ruleWidth = [...lines[1]].length
      for (const line of lines) expect([...line].length).toBeLessThanOrEqual(ruleWidth)
    }
  )
})

describe("progress bar", () => {
  it("renders the fraction done", () => {
    expect(renderBar(5, 10, 10, "nodes")).toBe("[#####-----]  5/10 nodes")
    expect(renderBar(12, 10, 4, "x")).toBe("[####] 10/10 x")
  })

  it("redraws in place on a terminal and ends the line when finished", () => {
    const writes: Array<string> = []
    const bar = new ProgressBar({
      total: 4,
      label: "steps",
      width: 4,
      sink: { isTTY: true, write: (t) => writes.push(t) }
    })
    bar.tick()
    bar.tick(3)
    bar.finish()
    bar.tick()
    expect(writes).toEqual([
      "\r[----] 0/4 steps\u001b[K",
      "\r[#---] 1/4 steps\u001b[K",
      "\r[####] 4/4 steps\u001b[K",
      "\n"
    ])
    expect(bar.completed).toBe(4)
  })

  it("writes one line per quarter elsewhere", () => {
    const writes: Array<string> = []
    const bar = new ProgressBar({ total: 8, label: "steps", width: 8, sink: { write: (t) => writes.push(t) } })
    for (let i = 0; i < 8; i++) bar.tick()
    bar.finish()
    expect(writes).toEqual([
      "[##------] 2/8 steps\n",
      "[####----] 4/8 steps\n",
      "[######--] 6/8 steps\n",
      "[########] 8/8 steps\n"
    ])
  })

  it("refuses a total that is not a positive integer", () => {
    expect(() => new ProgressBar({ total: 0, label: "", sink: { write: () => undefined } })).toThrow(RangeError)
  })
})
