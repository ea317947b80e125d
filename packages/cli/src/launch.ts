/**
 * Starting `kad-dht` quickly: each subcommand's module (and with it
 * libp2p, the DHT and the stores it needs) is imported only when that
 * subcommand runs. `kad-dht get …` loads the one-shot commands and nothing
 * of `node` or `demo`; `kad-dht --version` loads no command at all. Only
 * what must show every command (`--help`, completions, a mistyped
 * command) loads the whole tree.
 *
 * @module
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { reasonOf, StartupError } from "./errors.js"
import { CLI_NAME, CLI_VERSION } from "./version.js"

/**
 * Each subcommand, by name, and how to load it. The order is the order
 * of `kad-dht --help`; `rootCommand` in `cli.ts` holds the same commands.
 */
export const commandLoaders = {
  node: () => import("./commands/node.js").then((m) => m.nodeCommand),
  put: () => import("./commands/operations.js").then((m) => m.putCommand),
  get: () => import("./commands/operations.js").then((m) => m.getCommand),
  provide: () => import("./commands/operations.js").then((m) => m.provideCommand),
  "find-providers": () => import("./commands/operations.js").then((m) => m.findProvidersCommand),
  "find-peer": () => import("./commands/operations.js").then((m) => m.findPeerCommand),
  closest: () => import("./commands/operations.js").then((m) => m.closestCommand),
  demo: () => import("./commands/demo.js").then((m) => m.demoCommand)
} as const

/** The name of a subcommand. */
export type CommandName = keyof typeof commandLoaders

const commandNames = Object.keys(commandLoaders) as ReadonlyArray<CommandName>

const isCommandName = (word: string): word is CommandName => Object.hasOwn(commandLoaders, word)

/**
 * The subcommands a command line needs loaded: the one it names, none for
 * a bare `--version`, or all of them when it names none (help,
 * completions, a typo, whose message lists every command).
 *
 * The root command has no options of its own, so its first word that is
 * not a flag is the subcommand. The values of the built-in flags
 * (`--log-level debug`, `--completions bash`) are no command names.
 *
 * @example
 * ```ts
 * commandsFor(["get", "greeting", "-b", address]) // ["get"]
 * commandsFor(["--version"]) // []
 * commandsFor(["--help"]) // every command
 * ```
 */
export const commandsFor = (args: ReadonlyArray<string>): ReadonlyArray<CommandName> => {
  if (args.length === 1 && args[0] === "--version") return []
  const first = args.find((arg) => !arg.startsWith("-"))
  return first !== undefined && isCommandName(first) ? [first] : commandNames
}

/** The loaded form of a subcommand. */
export type LoadedCommand = Awaited<ReturnType<(typeof commandLoaders)[CommandName]>>

/**
 * `kad-dht` with the given subcommands (all of them in the same
 * description as the full tree has).
 *
 * @example
 * ```ts
 * const root = rootCommandOf([await commandLoaders.get()])
 * ```
 */
export const rootCommandOf = <const Subcommands extends readonly [LoadedCommand, ...Array<LoadedCommand>]>(
  subcommands: Subcommands
) =>
  Command.make(CLI_NAME).pipe(
    Command.withDescription("A libp2p Kademlia DHT node, one-shot DHT operations, and a local network demo."),
    Command.withSubcommands(subcommands)
  )

/** `kad-dht` without subcommands, which is all a bare `--version` needs. */
const bareRoot = Command.make(CLI_NAME)

const app = { name: CLI_NAME, version: CLI_VERSION }

const loadCommands = (names: ReadonlyArray<CommandName>) =>
  Effect.tryPromise({
    try: () => Promise.all(names.map((name) => commandLoaders[name]())),
    catch: (cause) => new StartupError({ what: `the ${CLI_NAME} commands`, reason: reasonOf(cause), cause })
  }).pipe(Effect.tapError((error) => Console.error(`${CLI_NAME}: ${error.message}`)))

/**
 * Parses a full `process.argv` and runs the command it names, loading only
 * that command's modules (see {@link commandsFor}).
 *
 * @example
 * ```ts
 * runLazily(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
 * ```
 */
export const runLazily = (argv: ReadonlyArray<string>) =>
  Effect.flatMap(loadCommands(commandsFor(argv.slice(2))), (loaded) =>
    loaded.length > 0
      ? Command.run(rootCommandOf(loaded as [LoadedCommand, ...Array<LoadedCommand>]), app)(argv)
      : Command.run(bareRoot, app)(argv)
  )
