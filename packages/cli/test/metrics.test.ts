import { afterEach, describe, expect, it } from "@effect/vitest"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { killAll, startNode } from "./cli-process.js"

afterEach(killAll)

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
})
