/**
 * What `kad-dht` runs once its compile cache is on (see `bin.ts`).
 *
 * Failures were printed by the command that failed, so the runtime's own
 * error report is off. Once the program is done every scope has closed,
 * and what can still hold the process open is a stray libp2p timer: the
 * host's own stop arms the identify-push and address-manager debounces
 * (1 s each), which would add a second to every one-shot command. So the
 * process exits as soon as stdout and stderr are flushed, and at the
 * latest after a grace period.
 * The platform layers come from their own modules rather than the
 * `@effect/platform-node` index, which would also load its HTTP client,
 * cluster and socket modules.
 *
 * @module
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { runLazily } from "./launch.js"

const EXIT_GRACE_MILLIS = 2_000

/** Calls `done` once everything written to stdout and stderr so far has been handed to the system. */
const afterFlush = (done: () => void): void => {
  // a write's callback runs once it and every write before it are flushed, or with an error (a closed pipe)
  process.stdout.write("", () => process.stderr.write("", () => done()))
}

runLazily(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit) => {
      const code = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0
      process.exitCode = code
      afterFlush(() => process.exit(code))
      setTimeout(() => process.exit(code), EXIT_GRACE_MILLIS).unref()
    }
  })
)
