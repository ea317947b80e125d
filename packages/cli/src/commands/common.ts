/**
 * Options shared by several commands, and the temporary client node the
 * one-shot commands run through.
 *
 * @module
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { defaultBootstrapPeers } from "@effect-kad/options"
import { multiaddr } from "@multiformats/multiaddr"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { BootstrapError, type CliError, OperationError, type StartupError } from "../errors.js"
import { makeHost } from "../host.js"
import { call, type KadNode, makeKadNode } from "../kad-node.js"

/** `--json`: one JSON object per line on stdout instead of text. */
export const jsonOption = Options.boolean("json").pipe(
  Options.withDescription("Print one JSON object per line instead of text, for scripts.")
)

/** Checks that an address parses and names its peer with `/p2p/<peer id>`. */
export const checkPeerAddress = (address: string): Effect.Effect<string, ValidationError.ValidationError> =>
  Effect.suspend(() => {
    try {
      const addr = multiaddr(address)
      if (addr.getComponents().some((component) => component.name === "p2p")) return Effect.succeed(address)
      return Effect.fail(
        ValidationError.invalidValue(HelpDoc.p(`bootstrap address ${address} must end with /p2p/<peer id>`))
      )
    } catch (cause) {
      return Effect.fail(
        ValidationError.invalidValue(
          HelpDoc.p(
            `bootstrap address ${address} is not a multiaddr: ${cause instanceof Error ? cause.message : cause}`
          )
        )
      )
    }
  })

/**
 * `--bootstrap <multiaddr>` (repeatable): peers to join the network
 * through; `--public` adds the public IPFS bootstrap peers
 * (`defaultBootstrapPeers`) in front of them.
 */
export const bootstrapOption = Options.all({
  addresses: Options.text("bootstrap").pipe(
    Options.withAlias("b"),
    Options.withDescription(
      "A peer to join the network through: a multiaddr ending in /p2p/<peer id>, such as the address `kad-dht node` prints. Repeat for several."
    ),
    Options.repeated,
    Options.mapEffect((addresses) => Effect.forEach(addresses, checkPeerAddress))
  ),
  public: Options.boolean("public").pipe(
    Options.withDescription("Join the public IPFS DHT through its bootstrap peers (bootstrap.libp2p.io and mars).")
  )
}).pipe(
  Options.map(
    ({ addresses, public: joinPublic }): ReadonlyArray<string> =>
      joinPublic ? [...defaultBootstrapPeers, ...addresses] : addresses
  )
)

/** `--timeout <seconds>`: deadline of a one-shot command, start-up included. */
export const timeoutOption = Options.integer("timeout").pipe(
  Options.withDescription("Give up after this many seconds, joining the network included."),
  Options.withDefault(60),
  Options.filterMap(
    (seconds) => (seconds > 0 ? Option.some(seconds) : Option.none()),
    "--timeout must be a positive number of seconds"
  )
)

/** Where a one-shot client listens: loopback only, on a free port, so provider records carry a usable address. */
const CLIENT_LISTEN = ["/ip4/127.0.0.1/tcp/0"]

/**
 * Joins the network as a temporary client-mode node with in-memory stores
 * (dials the bootstrap peers and refreshes its routing table), runs
 * `operation`, and stops the node, all within `timeoutSeconds`.
 */
export const withClientNode = <A>(
  name: string,
  bootstrap: ReadonlyArray<string>,
  timeoutSeconds: number,
  operation: (node: KadNode) => Effect.Effect<A, CliError>
): Effect.Effect<A, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (bootstrap.length === 0) return yield* new BootstrapError({ peers: [] })
      const node: KadNode = yield* clientNode(bootstrap)
      return yield* operation(node)
    })
  ).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(timeoutSeconds),
      onTimeout: () => new OperationError({ operation: name, reason: `timed out after ${timeoutSeconds} s` })
    })
  )

const clientNode = (
  bootstrap: ReadonlyArray<string>
): Effect.Effect<KadNode, StartupError | OperationError | BootstrapError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = yield* makeHost({ listen: CLIENT_LISTEN })
    const node = yield* makeKadNode({ host, mode: "client", bootstrap })
    yield* call("bootstrap", (signal) => node.dht.bootstrap({ signal }))
    const size = yield* call("routingTable.size", () => node.dht.routingTable.size())
    if (size === 0) return yield* new BootstrapError({ peers: bootstrap })
    return node
  })
