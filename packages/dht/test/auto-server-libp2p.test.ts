import { describe, expect, it } from "@effect/vitest"
import type { Libp2p } from "libp2p"
import { afterEach } from "vitest"
import { createLoopbackHost, dialableAddress } from "../../../test/support/hosts.js"
import { bootstrapPeers, DHTMode, filterLocalhostInResponses, IpfsDHT, mode } from "../src/index.js"

const started: Array<{ dht: IpfsDHT; host: Libp2p }> = []

afterEach(async () => {
  for (const { dht, host } of started.splice(0)) {
    await dht.close()
    await host.stop()
  }
})

const start = async (dhtMode: DHTMode, bootstrap: ReadonlyArray<string> = []) => {
  const host = await createLoopbackHost()
  const dht = new IpfsDHT({
    host,
    options: [mode(dhtMode), filterLocalhostInResponses(false), bootstrapPeers(bootstrap)]
  })
  started.push({ dht, host })
  await dht.start()
  return { dht, host }
}

/** Polls a condition a bounded number of times. */
const eventually = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

describe("DHTMode.autoServer on 127.0.0.1", () => {
  it("serves, so two such nodes enter each other's routing tables; auto stays a client there", async () => {
    const a = await start(DHTMode.autoServer)
    const b = await start(DHTMode.autoServer, [dialableAddress(a.host)])
    expect(await a.dht.mode()).toBe("server")
    expect(await b.dht.mode()).toBe("server")
    await b.dht.bootstrap({ quickConnectOnly: true })
    // b answers a's check only because it serves: a client would never enter a's table
    expect(
      await eventually(async () => (await a.dht.routingTable.listPeers()).some((p) => p.id.equals(b.host.peerId)))
    ).toBe(true)
    const auto = await start(DHTMode.auto)
    expect(await auto.dht.mode()).toBe("client")
  })
})
