/**
 * The `kad-dht` command tree, every command loaded, for programs that
 * embed it. The executable loads commands lazily instead (`launch.ts`).
 *
 * @module
 */
import * as Command from "@effect/cli/Command"
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
import { rootCommandOf } from "./launch.js"
import { CLI_NAME, CLI_VERSION } from "./version.js"

/** `kad-dht` and its subcommands. */
export const rootCommand = rootCommandOf([
  nodeCommand,
  putCommand,
  getCommand,
  provideCommand,
  findProvidersCommand,
  findPeerCommand,
  closestCommand,
  demoCommand
])

/**
 * Parses a full `process.argv` and runs the command it names.
 *
 * @example
 * ```ts
 * run(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
 * ```
 */
export const run = Command.run(rootCommand, { name: CLI_NAME, version: CLI_VERSION })
