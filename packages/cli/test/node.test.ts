import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { jsonLines, killAll, runCli, startNode } from "./cli-process.js"

afterEach(killAll)

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

describe("kad-dht node with one-shot commands from other processes", () => {
  it("a node in memory serves put and get from separate processes", { timeout: 240_000 }, async () => {
    const node = await startNode(["--memory", "--listen", "/ip4/127.0.0.1/tcp/0"])
    expect(node.started.identity).toBe("ephemeral")
    const address = node.started.addresses[0]
    expect(address).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${node.started.peerId}$`))

    const put = await runCli(["put", "greeting", "hello, dht", "--bootstrap", address, "--json"])
    expect(put.code, put.stderr).toBe(0)
    expect(jsonLines(put.stdout)).toEqual([
      { ok: true, command: "put", key: "/cli/greeting", value: "hello, dht", bytes: expect.any(Number) }
    ])

    const get = await runCli(["get", "greeting", "--bootstrap", address, "--json"])
    expect(get.code, get.stderr).toBe(0)
    expect(jsonLines(get.stdout)).toEqual([
      {
        ok: true,
        command: "get",
        key: "/cli/greeting",
        value: "hello, dht",
        encoding: "utf8",
        writtenAt: expect.any(String)
      }
    ])

    const text = await runCli(["get", "/cli/greeting", "-b", address])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toBe("hello, dht\n")

    const missing = await runCli(["get", "never-stored", "--bootstrap", address, "--json"])
    expect(missing.code).toBe(1)
    expect(jsonLines(missing.stdout)).toEqual([
      { ok: false, error: { tag: "NothingFoundError", message: "get: nothing found for /cli/never-stored" } }
    ])
    expect(missing.stderr).toContain("kad-dht: get: nothing found for /cli/never-stored")

    const closest = await runCli(["closest", node.started.peerId, "--bootstrap", address, "--json"])
    expect(closest.code, closest.stderr).toBe(0)
    expect(jsonLines(closest.stdout)[0]).toMatchObject({
      ok: true,
      keyKind: "peer",
      peers: [{ id: node.started.peerId }]
    })

    const stopped = await node.stop()
    expect(stopped.code).toBe(0)
    expect(jsonLines(stopped.stdout).at(-1)).toEqual({ event: "stopped" })
  })

  it("a node with a data directory keeps its peer ID, values and provider records across a restart", {
    timeout: 300_000
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "kad-dht-node-"))
    try {
      const first = await startNode(["--data-dir", dataDir])
      expect(first.started.identity).toBe("created")
      const address = first.started.addresses[0]

      const put = await runCli(["put", "persistent", "still here", "-b", address, "--json"])
      expect(put.code, put.stderr).toBe(0)
      const provide = await runCli(["provide", CID, "-b", address, "--json"])
      expect(provide.code, provide.stderr).toBe(0)
      const [provided] = jsonLines(provide.stdout)
      expect(provided).toMatchObject({ ok: true, command: "provide", cid: CID })
      const provider = provided.provider as string

      const stopped = await first.stop()
      expect(stopped.code).toBe(0)
      expect(jsonLines(stopped.stdout).at(-1)).toEqual({ event: "stopped" })

      const second = await startNode(["--data-dir", dataDir])
      expect(second.started.identity).toBe("loaded")
      expect(second.started.peerId).toBe(first.started.peerId)
      const again = second.started.addresses[0]

      const get = await runCli(["get", "persistent", "-b", again, "--json"])
      expect(get.code, get.stderr).toBe(0)
      expect(jsonLines(get.stdout)[0]).toMatchObject({ ok: true, key: "/cli/persistent", value: "still here" })

      const providers = await runCli(["find-providers", CID, "-b", again, "--json"])
      expect(providers.code, providers.stderr).toBe(0)
      const [found] = jsonLines(providers.stdout)
      expect((found.providers as Array<{ id: string }>).map((p) => p.id)).toContain(provider)

      const peer = await runCli(["find-peer", second.started.peerId, "-b", again, "--json"])
      expect(peer.code, peer.stderr).toBe(0)
      expect(jsonLines(peer.stdout)[0]).toMatchObject({ ok: true, peer: { id: second.started.peerId } })

      const rival = await runCli(["node", "--data-dir", dataDir, "--json"])
      expect(rival.code).toBe(1)
      expect(rival.stderr).toContain("is another node using this data directory?")

      expect((await second.stop()).code).toBe(0)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it("one-shot commands refuse to run without a bootstrap peer, or with an address that names none", {
    timeout: 120_000
  }, async () => {
    const none = await runCli(["get", "x", "--json"])
    expect(none.code).toBe(1)
    expect(jsonLines(none.stdout)[0]).toMatchObject({ ok: false, error: { tag: "BootstrapError" } })

    const bad = await runCli(["get", "x", "--bootstrap", "/ip4/127.0.0.1/tcp/4001"])
    expect(bad.code).toBe(1)
    expect(bad.stdout + bad.stderr).toContain("must end with /p2p/<peer id>")
  })
})
