/**
 * `kad-dht demo`: the local network demo as a command.
 *
 * @module
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { renderReport, runDemo } from "../demo.js"
import { OperationError } from "../errors.js"
import { emit, reported } from "../output.js"
import { jsonOption } from "./common.js"

const boundedInteger = (name: string, min: number, max: number, fallback: number, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.filterMap(
      (n) => (n >= min && n <= max ? Option.some(n) : Option.none()),
      `--${name} must be between ${min} and ${max}`
    )
  )

/** The `demo` command. */
export const demoCommand = Command.make(
  "demo",
  {
    nodes: boundedInteger("nodes", 3, 100, 25, "Nodes in the local network."),
    runs: boundedInteger("runs", 1, 50, 5, "Times each operation runs."),
    deadline: boundedInteger("deadline", 10, 3600, 110, "Seconds after which the demo gives up (nodes are stopped)."),
    strict: Options.boolean("strict").pipe(
      Options.withDescription("Exit with status 1 unless every run of every operation succeeded.")
    ),
    json: jsonOption
  },
  ({ nodes, runs, deadline, strict, json }) =>
    reported(
      json,
      Effect.gen(function* () {
        const report = yield* runDemo({
          nodes,
          runs,
          operationTimeout: Duration.seconds(15),
          progress: json ? undefined : process.stderr
        }).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(deadline),
            onTimeout: () => new OperationError({ operation: "demo", reason: `did not finish within ${deadline} s` })
          })
        )
        yield* emit(
          json,
          () => ({ ok: report.allSucceeded, command: "demo", ...report }),
          () => renderReport(report)
        )
        if (strict && !report.allSucceeded) {
          return yield* new OperationError({ operation: "demo", reason: "some operations failed (--strict)" })
        }
      })
    )
).pipe(
  Command.withDescription(
    "Start a network of real nodes on 127.0.0.1 in this process, run every DHT operation across it and print a results table."
  )
)
