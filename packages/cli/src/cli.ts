/**
 * The `kad-dht` command tree.
 *
 * @module
 */
import { Command } from "@effect/cli"
import { demoCommand } from "./commands/demo.js"
import { nodeCommand } from "./commands/node.js"
import {
  closestCommand,
  findPeerCommand,
  findProvidersCommand,
  getCommand,
  provideCommand,
  putCommand
} from "./commands/operations.js"

/** `kad-dht` and its subcommands. */
export const rootCommand = Command.make("kad-dht").pipe(
  Command.withDescription("A libp2p Kademlia DHT node, one-shot DHT operations, and a local network demo."),
  Command.withSubcommands([
    nodeCommand,
    putCommand,
    getCommand,
    provideCommand,
    findProvidersCommand,
    findPeerCommand,
    closestCommand,
    demoCommand
  ])
)

/**
 * Parses a full `process.argv` and runs the command it names.
 *
 * @example
 * ```ts
 * run(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
 * ```
 */
export const run = Command.run(rootCommand, { name: "kad-dht", version: "0.1.0" })
