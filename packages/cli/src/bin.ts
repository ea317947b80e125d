#!/usr/bin/env node
/**
 * The `kad-dht` executable.
 *
 * Failures were printed by the command that failed, so the runtime's own
 * error report is off. Once the program is done, a forced exit after a
 * grace period keeps a stray libp2p timer from holding the process open.
 *
 * @module
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { run } from "./cli.js"

const EXIT_GRACE_MILLIS = 2_000

run(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit) => {
      const code = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0
      process.exitCode = code
      setTimeout(() => process.exit(code), EXIT_GRACE_MILLIS).unref()
    }
  })
)
