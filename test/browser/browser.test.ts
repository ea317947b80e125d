/**
 * The DHT client in a real browser: Debian's Chromium, driven by
 * playwright-core, loads the browser example (bundled by esbuild) and its
 * client-mode DHT joins Node DHT servers over WebSockets on 127.0.0.1.
 *
 * The network: `kad-dht node --memory --ws` (the CLI's command line,
 * parsed and run in this process, its JSON output captured) and a Node
 * peer that listens on TCP and WebSockets too. The page finds a provider and gets a value the Node peer
 * announced and put; the Node peer finds a provider and gets a value the
 * page announced and put. The page is driven through its form, as a user
 * would, and read through its results list.
 *
 * Without Chromium the suite is skipped with a notice (a failure with
 * `EFFECT_KAD_REQUIRE_ALL_SUITES=1`, as in CI).
 */
import { NodeContext } from "@effect/platform-node"
import { call, type KadNode, listenAddresses, makeHost, makeKadNode, run } from "@effect-kad/cli"
import { decodeCliValue, encodeCliValue } from "@effect-kad/cli/values"
import { Console, Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleForBrowser } from "../../examples/browser/bundle.js"
import { cidOfText } from "../../examples/browser/client.js"
import { type ExampleServer, serveBrowserExample } from "../../examples/browser/serve.js"
import { chromiumExecutable, suiteCanRun } from "../support/toolchains.js"

/** The `started` line `kad-dht node --json` prints. */
interface Started {
  readonly peerId: string
  readonly addresses: ReadonlyArray<string>
}

/** A `kad-dht node` running in this process. */
interface RunningNode {
  readonly started: Started
  readonly stop: () => Promise<void>
}

/**
 * Runs `kad-dht node --json <args>` in this process (a subprocess would
 * spend most of the suite's time compiling the CLI) and waits for the
 * `started` line it prints; `stop` interrupts it as Ctrl-C would.
 */
const startNode = async (args: ReadonlyArray<string>): Promise<RunningNode> => {
  const started = Effect.runSync(Deferred.make<Started, Error>())
  const defaultConsole = Effect.runSync(Console.consoleWith(Effect.succeed))
  const capture: Console.Console = {
    ...defaultConsole,
    log: (...parts) =>
      Effect.suspend(() => {
        const event = JSON.parse(String(parts[0])) as Started & { readonly event?: string }
        return event.event === "started" ? Deferred.succeed(started, event) : Effect.void
      })
  }
  const fiber = run(["node", "kad-dht", "node", "--json", ...args]).pipe(
    Effect.withConsole(capture),
    Effect.provide(NodeContext.layer),
    Effect.onExit((exit) => Deferred.fail(started, new Error(`kad-dht node ended before starting: ${exit}`))),
    Effect.runFork
  )
  return {
    started: await Effect.runPromise(Deferred.await(started)),
    stop: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
  }
}

/** Multiaddrs of `node` that browsers can dial. */
const wsAddresses = (addresses: ReadonlyArray<string>): Array<string> => addresses.filter((a) => a.includes("/ws/"))

interface Result {
  readonly outcome: string
  readonly values: ReadonlyArray<string>
}

/** Clicks `button` and waits for the result it adds to the page's list (the n-th of its operation). */
const clickFor = async (page: Page, button: string, op: string): Promise<Result> => {
  const results = page.locator(`#results li[data-op="${op}"]`)
  const before = await results.count()
  await page.click(`#${button}`)
  const item = results.nth(before)
  await item.waitFor({ timeout: 45_000 })
  const outcome = (await item.getAttribute("data-outcome")) ?? ""
  const values = JSON.parse((await item.getAttribute("data-values")) ?? "[]") as Array<string>
  if (outcome !== "ok") {
    // the page's progress log says what went wrong
    const log = (await page.locator("#log div").allTextContents()).join("\n")
    return { outcome: `${outcome}: ${await item.textContent()}\n${log}`, values }
  }
  return { outcome, values }
}

describe.runIf(suiteCanRun("browser (chromium)", ["chromium"]))("the DHT client in a browser", () => {
  const scope = Effect.runSync(Scope.make())
  let server: RunningNode
  let peer: KadNode
  let example: ExampleServer
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    // bundling, the CLI node's start-up and the browser's launch overlap; each is kept as soon as it
    // is up, so afterAll stops it even when another failed
    await Promise.all([
      startNode(["--memory", "--ws", "--health-interval", "0"]).then((started) => {
        server = started
      }),
      serveBrowserExample().then((served) => {
        example = served
      }),
      chromium
        .launch({ executablePath: chromiumExecutable, headless: true, args: ["--no-sandbox"] })
        .then((launched) => {
          browser = launched
        })
    ])
    const tcp = server.started.addresses.find((a) => !a.includes("/ws/"))
    if (tcp === undefined) throw new Error(`the node printed no TCP address: ${server.started.addresses}`)
    peer = await Effect.runPromise(
      Effect.gen(function* () {
        const host = yield* makeHost({ listen: listenAddresses({ listen: [], ws: true }) })
        const node = yield* makeKadNode({ host, mode: "server", bootstrap: [tcp] })
        yield* call("bootstrap", (signal) => node.dht.bootstrap({ signal }))
        return node
      }).pipe(Scope.extend(scope))
    )
    page = await browser.newPage()
    const bootstrap = [...wsAddresses(server.started.addresses), ...wsAddresses(peer.host.getMultiaddrs().map(String))]
    const query = bootstrap.map((a) => `bootstrap=${encodeURIComponent(a)}`).join("&")
    await page.goto(`${example.url}?${query}`)
    await page.click("#connect")
    await page
      .locator("#status[data-peer-id]")
      .waitFor({ timeout: 45_000 })
      .catch(async (cause: unknown) => {
        const log = (await page.locator("#log div").allTextContents()).join("\n")
        throw new Error(`the page did not connect: ${await page.locator("#status").textContent()}\n${log}`, { cause })
      })
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await example?.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server?.stop()
  })

  it("the kad-dht node listens on WebSockets with --ws", () => {
    expect(wsAddresses(server.started.addresses)).toEqual([
      expect.stringMatching(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${server.started.peerId}$`))
    ])
  })

  it("the page finds a provider a Node peer announced, and gets the value it put", async () => {
    const cid = await cidOfText("announced by a Node peer")
    await call("provide", (signal) => peer.dht.provide(cid, true, { signal })).pipe(Effect.runPromise)
    const value = encodeCliValue("hello from Node", Date.now())
    await call("putValue", (signal) => peer.dht.putValue("/cli/from-node", value, { signal })).pipe(Effect.runPromise)

    await page.fill("#content", "announced by a Node peer")
    const providers = await clickFor(page, "find-providers", "find-providers")
    expect(providers.outcome).toBe("ok")
    expect(providers.values).toContain(peer.host.peerId.toString())

    await page.fill("#key", "from-node")
    const got = await clickFor(page, "get", "get")
    expect(got.outcome).toBe("ok")
    expect(got.values).toEqual(["hello from Node"])
  })

  it("a Node peer finds a provider the page announced, and gets the value it put", async () => {
    const browserPeer = await page.locator("#status").getAttribute("data-peer-id")
    expect(browserPeer).toMatch(/^12D3Koo/)

    await page.fill("#content", "announced by the browser")
    const provided = await clickFor(page, "provide", "provide")
    expect(provided.outcome).toBe("ok")
    await page.fill("#key", "from-browser")
    await page.fill("#value", "hello from the browser")
    const put = await clickFor(page, "put", "put")
    expect(put.outcome).toBe("ok")

    const cid = await cidOfText("announced by the browser")
    const providers = await call("findProviders", async (signal) => {
      const found: Array<string> = []
      for await (const provider of peer.dht.findProvidersAsync(cid, 5, { signal })) found.push(provider.id.toString())
      return found
    }).pipe(Effect.runPromise)
    expect(providers).toContain(browserPeer)

    const bytes = await call("getValue", (signal) => peer.dht.getValue("/cli/from-browser", { signal })).pipe(
      Effect.runPromise
    )
    expect(bytes === null ? undefined : decodeCliValue(bytes)?.value).toBe("hello from the browser")
  })
})

describe("the browser bundle", () => {
  it("reaches no Node built-in and no LevelDB from the public entry of @effect-kad/dht", async () => {
    const bundle = await bundleForBrowser({ contents: 'export * from "@effect-kad/dht"' })
    expect(bundle.builtinImports).toEqual([])
    expect(bundle.inputs).toBeGreaterThan(100)
    // LevelDB (durable stores of kad-dht node) stays with the CLI, even in its browser build
    expect(bundle.inputFiles.filter((file) => /(^|\/)(datastore-level|classic-level|level)\//.test(file))).toEqual([])
    expect(bundle.inputFiles.some((file) => file.startsWith("packages/dht/src/"))).toBe(true)
  })

  it("names each Node built-in an entry reaches, with the module that imports it", async () => {
    const leaky = await bundleForBrowser({
      contents:
        'import { CID } from "multiformats/cid"\nimport { readFile } from "node:fs/promises"\nexport { CID, readFile }'
    })
    expect(leaky.builtinImports).toEqual([{ builtin: "node:fs/promises", importer: "entry.ts" }])
  })
})
