import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { defaultBootstrapPeers } from "@effect-kad/options"
import { Effect } from "effect"
import { bootstrapOption } from "../src/index.js"

/** Parses a command line with the shared bootstrap options only; nothing is dialed. */
const parse = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let parsed: ReadonlyArray<string> | undefined
    const probe = Command.make("probe", { bootstrap: bootstrapOption }, ({ bootstrap }) =>
      Effect.sync(() => {
        parsed = bootstrap
      })
    )
    yield* Command.run(probe, { name: "probe", version: "0" })(["node", "probe", ...args])
    return parsed
  }).pipe(Effect.provide(NodeContext.layer))

const local = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8"

describe("--public", () => {
  it.effect("joins through the public bootstrap list, before any --bootstrap peers", () =>
    Effect.gen(function* () {
      expect(yield* parse(["--public"])).toEqual(defaultBootstrapPeers)
      expect(yield* parse(["--public", "--bootstrap", local])).toEqual([...defaultBootstrapPeers, local])
      expect(yield* parse(["--bootstrap", local])).toEqual([local])
      expect(yield* parse([])).toEqual([])
    })
  )
})
