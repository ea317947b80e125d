import { afterEach, describe, expect, it } from "@effect/vitest"
import { jsonLines, killAll, runCli } from "./cli-process.js"

afterEach(killAll)

const operations = [
  "findPeer",
  "getClosestPeers",
  "provide",
  "findProvidersAsync",
  "putValue",
  "getValue",
  "searchValue",
  "advertise",
  "findPeers",
  "routingTable.size",
  "nsEstimator.estimate",
  "health check"
]

describe("kad-dht demo", () => {
  it("runs every operation across a local network of 6 nodes and reports each one succeeded", {
    timeout: 240_000
  }, async () => {
    const result = await runCli(["demo", "--nodes", "6", "--runs", "3", "--json", "--strict"], 200_000)
    expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0)
    const [report] = jsonLines(result.stdout)
    expect(report).toMatchObject({ ok: true, command: "demo", nodes: 6, runs: 3, bucketSize: 4, allSucceeded: true })
    const rows = report.operations as Array<{
      operation: string
      ok: number
      total: number
      medianMs: number | null
      requestsPerRun: number
    }>
    expect(rows.map((row) => row.operation)).toEqual(operations)
    for (const row of rows) {
      expect(row, row.operation).toMatchObject({ ok: 3, total: 3 })
      expect(row.medianMs).toBeGreaterThanOrEqual(0)
    }
    // lookups send requests; reading the routing table sends none
    const requests = Object.fromEntries(rows.map((row) => [row.operation, row.requestsPerRun]))
    expect(requests.getClosestPeers).toBeGreaterThan(0)
    expect(requests.provide).toBeGreaterThan(0)
    expect(requests["routingTable.size"]).toBe(0)
  })
})
