import { describe, expect, it } from "@effect/vitest"
import { DEFAULT_LISTEN, DEFAULT_WS_LISTEN, isWebSockets, listenAddresses } from "../src/index.js"

describe("kad-dht node listen addresses", () => {
  it("listen on loopback TCP by default, and add loopback WebSockets with --ws", () => {
    expect(listenAddresses({ listen: [] })).toEqual([DEFAULT_LISTEN])
    expect(listenAddresses({ listen: [], ws: false })).toEqual([DEFAULT_LISTEN])
    expect(listenAddresses({ listen: [], ws: true })).toEqual([DEFAULT_LISTEN, DEFAULT_WS_LISTEN])
    expect(DEFAULT_WS_LISTEN).toBe("/ip4/127.0.0.1/tcp/0/ws")
  })

  it("keep the --listen addresses, and add no second WebSockets address when one is given", () => {
    expect(listenAddresses({ listen: ["/ip4/127.0.0.1/tcp/4001"], ws: true })).toEqual([
      "/ip4/127.0.0.1/tcp/4001",
      DEFAULT_WS_LISTEN
    ])
    expect(listenAddresses({ listen: ["/ip4/127.0.0.1/tcp/4002/ws"], ws: true })).toEqual([
      "/ip4/127.0.0.1/tcp/4002/ws"
    ])
  })

  it("tell WebSockets addresses from others", () => {
    expect(isWebSockets("/ip4/127.0.0.1/tcp/4002/ws")).toBe(true)
    expect(isWebSockets("/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWAbc")).toBe(true)
    expect(isWebSockets("/dns4/example.com/tcp/443/wss")).toBe(true)
    expect(isWebSockets("/dns4/example.com/tcp/443/tls/ws")).toBe(true)
    expect(isWebSockets("/ip4/127.0.0.1/tcp/4001")).toBe(false)
    expect(isWebSockets("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWsAbc")).toBe(false)
  })
})
