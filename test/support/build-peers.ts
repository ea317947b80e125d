/**
 * Builds the interop peers of other implementations before the test run:
 * the go-libp2p-kad-dht and rust-libp2p peer programs and kubo, each into
 * the build cache outside the checkout (`buildCacheDir`), one after the
 * other so the builds do not compete with running tests for the CPU. A
 * warm cache makes each a quick check. Without Go or Cargo the suites that
 * need them are skipped with a notice (or, with
 * `EFFECT_KAD_REQUIRE_ALL_SUITES=1`, the run fails here).
 *
 * Run by `pnpm test`; `pnpm build:peers` runs it alone.
 *
 * @module
 */
import { Effect } from "effect"
import { buildPeer } from "../interop/support/external-peer.js"
import { kuboBinary } from "../interop/support/kubo.js"
import { suiteCanRun } from "./toolchains.js"

const timed = <A, E>(what: string, build: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const started = Date.now()
    process.stderr.write(`building ${what}…\n`)
    const path = yield* build
    process.stderr.write(`built ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${String(path)}\n`)
  })

const program = Effect.gen(function* () {
  if (suiteCanRun("go-libp2p-kad-dht interop (peer build)", ["go"])) {
    yield* timed("the go-libp2p-kad-dht peer", buildPeer("go"))
    yield* timed("kubo", kuboBinary)
  }
  if (suiteCanRun("rust-libp2p interop (peer build)", ["cargo"])) {
    yield* timed("the rust-libp2p peer", buildPeer("rust"))
  }
})

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`building interop peers failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
