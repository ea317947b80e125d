import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, HashMap, HashSet } from "effect"
import { rootCommand } from "../src/cli.js"
import { type CommandName, commandLoaders, commandsFor, type LoadedCommand, runLazily } from "../src/launch.js"
import { CLI_VERSION } from "../src/version.js"
import { jsonLines, killAll, runCli } from "./cli-process.js"

afterEach(killAll)

const allCommands = Object.keys(commandLoaders)

/** What `runLazily` printed on stdout for a command line (help and version go through console.log). */
const printed = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((...data: Array<unknown>) => {
      lines.push(data.map(String).join(" "))
    })
    const exit = yield* runLazily(["node", "kad-dht", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.exit,
      Effect.ensuring(Effect.sync(() => spy.mockRestore()))
    )
    return { exit, text: lines.join("\n") }
  })

describe("kad-dht loads only the command it runs", () => {
  it("a command line names the one subcommand it needs", () => {
    expect(commandsFor(["get", "greeting", "-b", "/ip4/127.0.0.1/tcp/4001/p2p/x"])).toEqual(["get"])
    expect(commandsFor(["node", "--memory"])).toEqual(["node"])
    expect(commandsFor(["find-providers", "--json", "bafy"])).toEqual(["find-providers"])
    expect(commandsFor(["--version"])).toEqual([])
  })

  it("help, completions, flag values and unknown words load every command", () => {
    for (const args of [[], ["--help"], ["--completions", "bash"], ["--log-level", "debug", "get"], ["gte", "x"]]) {
      expect(commandsFor(args)).toEqual(allCommands)
    }
    expect(commandsFor(["--version", "--help"])).toEqual(allCommands)
  })

  it("the lazy table holds the commands of the full tree, in its order", async () => {
    const names = HashMap.keys(Command.getSubcommands(rootCommand))
    expect(new Set(names)).toEqual(new Set(allCommands))
    for (const name of allCommands as Array<CommandName>) {
      const loaded: LoadedCommand = await commandLoaders[name]()
      expect(HashSet.has(Command.getNames(loaded as Command.Command<string, unknown, unknown, unknown>), name)).toBe(
        true
      )
    }
  })

  it.effect("--version prints the version without any command", () =>
    Effect.gen(function* () {
      const { exit, text } = yield* printed(["--version"])
      expect(exit._tag).toBe("Success")
      expect(text.trim()).toBe(CLI_VERSION)
    })
  )

  it.effect("a subcommand's help comes from the loaded command alone; the root's lists every command", () =>
    Effect.gen(function* () {
      const get = yield* printed(["get", "--help"])
      expect(get.exit._tag).toBe("Success")
      expect(get.text).toContain("Fetch the best value stored under a key.")
      expect(get.text).toContain("--quorum")
      const root = yield* printed(["--help"])
      expect(root.exit._tag).toBe("Success")
      for (const name of allCommands) expect(root.text).toContain(name)
    })
  )

  it("the executable answers --version at once and fills Node's compile cache", { timeout: 120_000 }, async () => {
    const version = await runCli(["--version"])
    expect(version.code, version.stderr).toBe(0)
    expect(version.stdout).toBe(`${CLI_VERSION}\n`)
    // without NODE_COMPILE_CACHE, which alone would switch the cache on, the cache goes under the temporary directory
    const temporary = await mkdtemp(join(tmpdir(), "kad-dht-compile-cache-"))
    const env = { TMPDIR: temporary, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined }
    try {
      const help = await runCli(["get", "--help"], 90_000, env)
      expect(help.code, help.stderr).toBe(0)
      expect(help.stdout).toContain("Fetch the best value stored under a key.")
      expect((await readdir(join(temporary, "node-compile-cache"), { recursive: true })).length).toBeGreaterThan(0)
    } finally {
      await rm(temporary, { recursive: true, force: true })
    }
  })

  it("the bundled executable that `build` writes runs a command from its lazily loaded chunk", {
    timeout: 60_000
  }, async () => {
    const bundled = fileURLToPath(new URL("../dist/bundle/bin.js", import.meta.url))
    expect(existsSync(bundled), "packages/cli/dist/bundle is missing: run `npx -y pnpm@10 build` first").toBe(true)
    const run = (args: ReadonlyArray<string>) =>
      new Promise<{ code: number; stdout: string }>((resolve) =>
        execFile(
          process.execPath,
          [bundled, ...args],
          { timeout: 50_000, env: { ...process.env, NO_COLOR: "1" } },
          (error, stdout) =>
            resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout })
        )
      )
    const help = await run(["get", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("Fetch the best value stored under a key.")
    const refused = await run(["get", "greeting", "--json"])
    expect(refused.code).toBe(1)
    expect(jsonLines(refused.stdout)).toEqual([
      { ok: false, error: { tag: "BootstrapError", message: expect.any(String) } }
    ])
  })
})
