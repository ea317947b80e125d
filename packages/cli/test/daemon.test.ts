import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { LevelDatastore } from "datastore-level"
import { Effect, Either } from "effect"
import { Key } from "interface-datastore"
import { vi } from "vitest"
import { resolveSettings } from "../src/commands/node.js"
import { layerStderrLogs } from "../src/kad-node.js"
import { loadNodeConfig } from "../src/node-config.js"
import { jsonLines, killAll, startNode } from "./cli-process.js"

afterEach(killAll)

const noFlags = {
  listen: [],
  ws: false,
  bootstrap: [],
  mode: undefined,
  dataDir: undefined,
  memory: false,
  keyFile: undefined,
  healthInterval: undefined,
  json: false,
  metrics: undefined,
  logFormat: undefined
} as const

const withFile = async <A>(content: string, f: (path: string) => Promise<A>): Promise<A> => {
  const dir = await mkdtemp(join(tmpdir(), "kad-dht-config-"))
  try {
    const path = join(dir, "node.json")
    await writeFile(path, content)
    return await f(path)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe("kad-dht node as a daemon", () => {
  it.effect("settings come from flags, else the config file, else the defaults", () =>
    Effect.gen(function* () {
      const file = { mode: "client" as const, healthInterval: 5, dataDir: "/srv/dht", logFormat: "json" as const }
      const fromFile = yield* resolveSettings(noFlags, file)
      expect(fromFile).toMatchObject({
        mode: "client",
        healthIntervalSeconds: 5,
        dataDir: "/srv/dht",
        logFormat: "json"
      })
      const flagsWin = yield* resolveSettings({ ...noFlags, mode: "auto", healthInterval: 0 }, file)
      expect(flagsWin).toMatchObject({ mode: "auto", healthIntervalSeconds: 0, dataDir: "/srv/dht" })
      const defaults = yield* resolveSettings(noFlags, {})
      expect(defaults).toMatchObject({
        mode: "server",
        healthIntervalSeconds: 30,
        dataDir: "./.kad-dht",
        memory: false
      })
      const badPeer = yield* Effect.either(resolveSettings(noFlags, { bootstrap: ["/ip4/192.0.2.1/tcp/4001"] }))
      expect(Either.isLeft(badPeer) && badPeer.left.message).toMatch(
        /bootstrap: .* must be a multiaddr ending with \/p2p/
      )
    })
  )

  it("a config file with a wrong value or an unknown field is refused, naming the field", async () => {
    const wrong = await withFile(JSON.stringify({ mode: "leader", healthInterval: 10 }), (path) =>
      Effect.runPromise(Effect.either(loadNodeConfig(path)))
    )
    expect(Either.isLeft(wrong) && wrong.left.message).toMatch(/config file .*node\.json: mode: /)
    const unknown = await withFile(JSON.stringify({ listenAddrs: [] }), (path) =>
      Effect.runPromise(Effect.either(loadNodeConfig(path)))
    )
    expect(Either.isLeft(unknown) && unknown.left.message).toMatch(/listenAddrs/)
    const notJson = await withFile("{ mode: server", (path) => Effect.runPromise(Effect.either(loadNodeConfig(path))))
    expect(Either.isLeft(notJson)).toBe(true)
  })

  it("--log-format json writes the DHT's log lines as JSON objects on stderr", async () => {
    const lines: Array<string> = []
    const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => void lines.push(String(line)))
    try {
      await Effect.runPromise(Effect.logWarning("a warning").pipe(Effect.provide(layerStderrLogs("json"))))
      await Effect.runPromise(Effect.logWarning("in text").pipe(Effect.provide(layerStderrLogs("text"))))
    } finally {
      spy.mockRestore()
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ message: "a warning", logLevel: "WARN" })
    expect(lines[1]).toMatch(/level=WARN .*message="in text"/)
  })

  it("runs from a config file and on SIGTERM saves its routing table and closes its stores", {
    timeout: 120_000
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "kad-dht-daemon-"))
    try {
      const config = join(dataDir, "node.json")
      await writeFile(
        config,
        JSON.stringify({ dataDir, healthInterval: 0, metrics: "127.0.0.1:0", logFormat: "json", mode: "server" })
      )
      const node = await startNode(["--config", config])
      const started = node.started as unknown as { storage: string; metrics?: string; mode: string }
      expect(started.storage).toBe(dataDir)
      expect(started.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

      const stopped = await node.stop()
      expect(stopped.code).toBe(0)
      expect(jsonLines(stopped.stdout).at(-1)).toEqual({ event: "stopped" })
      // the records database was closed (LevelDB locks it while open) and holds the saved table
      const records = new LevelDatastore(join(dataDir, "records"))
      await records.open()
      try {
        expect(await records.has(new Key("/dht/routing-table"))).toBe(true)
      } finally {
        await records.close()
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
