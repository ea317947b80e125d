import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "@effect/vitest"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { killAll, runCli, startNode } from "./cli-process.js"

afterEach(killAll)

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

/** The value of a family without labels, as one scrape of `url` reads it. */
const scrapeValue = async (url: string, family: string): Promise<string | undefined> => {
  const families = parsePrometheusTextFormat(await (await fetch(url)).text())
  return families.find((f) => f.name === family)?.metrics[0]?.value
}

describe("kad-dht node --metrics", () => {
  it("serves Prometheus text with the DHT's families, which a text-format parser reads", {
    timeout: 120_000
  }, async () => {
    const node = await startNode(["--memory", "--health-interval", "0", "--metrics", "127.0.0.1:0"])
    const url = (node.started as unknown as { metrics: string }).metrics
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/plain")
    const families = new Map(parsePrometheusTextFormat(await response.text()).map((f) => [f.name, f]))

    const size = families.get("libp2p_kad_dht_routing_table_size")
    expect(size?.type).toBe("GAUGE")
    expect(size?.metrics[0]?.value).toBe("0")
    expect(
      families
        .get("libp2p_kad_dht_queue_depth")
        ?.metrics.map((m) => m.labels?.queue)
        .sort()
    ).toEqual(["inbound_requests", "outbound_requests"])
    // the store of a --memory node is the in-memory one, which counts its records
    expect(families.get("libp2p_kad_dht_provider_store_keys")?.metrics[0]?.value).toBe("0")
    expect(families.get("libp2p_kad_dht_reprovide_keys")?.metrics[0]?.value).toBe("0")
    for (const counter of [
      "operations_total",
      "inbound_rpc_requests_total",
      "outbound_rpc_requests_total",
      "reprovide_overrun_cycles_total"
    ]) {
      expect(families.get(`libp2p_kad_dht_${counter}`)?.type).toBe("COUNTER")
    }
    // libp2p's own families come along
    expect([...families.keys()].some((name) => name.startsWith("libp2p_") && !name.startsWith("libp2p_kad_dht"))).toBe(
      true
    )
    expect((await fetch(url.replace("/metrics", "/other"))).status).toBe(404)

    const stopped = await node.stop()
    expect(stopped.code).toBe(0)
  })

  it("a --data-dir node reports the provider records its datastore holds", { timeout: 180_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "kad-dht-metrics-"))
    try {
      const node = await startNode(["--data-dir", dataDir, "--health-interval", "0", "--metrics", "127.0.0.1:0"])
      const url = (node.started as unknown as { metrics: string }).metrics
      expect(await scrapeValue(url, "libp2p_kad_dht_provider_store_keys")).toBe("0")

      const provide = await runCli(["provide", CID, "-b", node.started.addresses[0], "--json"])
      expect(provide.code, provide.stderr).toBe(0)
      // ADD_PROVIDER is unanswered, and one scrape answers the next second's: ask until the record shows
      let keys: string | undefined
      for (let i = 0; i < 20 && keys !== "1"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1_100))
        keys = await scrapeValue(url, "libp2p_kad_dht_provider_store_keys")
      }
      expect(keys).toBe("1")
      expect(await scrapeValue(url, "libp2p_kad_dht_provider_store_providers")).toBe("1")

      expect((await node.stop()).code).toBe(0)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
