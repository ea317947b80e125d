/**
 * How commands print: text for people, or one JSON object per line with
 * `--json` for scripts. Failures always get a one-line message on stderr;
 * with `--json` they are also printed on stdout as
 * `{"ok":false,"error":{"tag":...,"message":...}}`.
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { CliError } from "./errors.js"

/** Prints one result: `json()` as a JSON line, or `text()` for people. */
export const emit = (json: boolean, data: () => object, text: () => string): Effect.Effect<void> =>
  Console.log(json ? JSON.stringify(data()) : text())

/**
 * Runs a command's program, reporting how it failed. The returned Effect
 * still fails (so the process exits non-zero) but the cause has been
 * printed already; interruption (Ctrl-C) passes through silently.
 */
export const reported = <A, R>(json: boolean, program: Effect.Effect<A, CliError, R>): Effect.Effect<A, unknown, R> =>
  Effect.tapErrorCause(program, (cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.void
    const failure = Cause.failureOption(cause)
    const tag = failure._tag === "Some" ? failure.value._tag : "UnexpectedError"
    const message = failure._tag === "Some" ? failure.value.message : Cause.pretty(cause)
    return Effect.zipRight(
      json ? Console.log(JSON.stringify({ ok: false, error: { tag, message } })) : Effect.void,
      Console.error(`kad-dht: ${message}`)
    )
  })
