/**
 * A small coverage-guided mutation fuzzer. Coverage comes from V8's precise
 * block coverage through the inspector protocol of this very process: after
 * each input the block counters are taken (which resets them), and an
 * input that reached a block of the watched scripts never reached before
 * joins the corpus that later inputs are mutated from. It stands in for a
 * libFuzzer-based fuzzer where none runs (see docs/reliability.md).
 */
import { Session } from "node:inspector/promises"
import { concat, type Mutation, mutate } from "../../reliability/support/messages.js"

/** Settings of {@link coverageGuidedFuzz}. */
export interface CoverageFuzzConfig {
  /** Inputs the corpus starts from. */
  readonly seeds: ReadonlyArray<Uint8Array>
  /** The code under test; any exception it throws is a crash. */
  readonly target: (input: Uint8Array) => void
  /** Which scripts' coverage guides the search (by URL). */
  readonly watch: (url: string) => boolean
  /** Bounds of the run: whichever comes first. */
  readonly maxInputs: number
  readonly maxMillis: number
  /** Longest input produced. */
  readonly maxLength?: number
}

/** What a run did. */
export interface CoverageFuzzFigures {
  readonly inputs: number
  readonly corpus: number
  readonly blocks: number
  readonly crashes: number
  readonly firstCrashes: ReadonlyArray<{ readonly input: string; readonly error: string }>
  readonly millis: number
}

/** Inputs run between two coverage snapshots. */
const BATCH = 32

const randomInt = (n: number) => Math.floor(Math.random() * n)

const interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a, 0x22, 0x42, 0x4a]

const randomMutation = (): Mutation => {
  const at = Math.random()
  switch (randomInt(7)) {
    case 0:
      return { op: "flip", at, bit: randomInt(8) }
    case 1:
      return { op: "set", at, value: interesting[randomInt(interesting.length)] }
    case 2:
      return { op: "insert", at, bytes: crypto.getRandomValues(new Uint8Array(1 + randomInt(8))) }
    case 3:
      return { op: "delete", at, length: 1 + randomInt(8) }
    case 4:
      return { op: "truncate", at }
    case 5:
      return { op: "duplicate", at, length: 1 + randomInt(32) }
    default:
      return { op: "varint", at, value: [0, 1, 2, 127, 128, 300, 2 ** 21, 2 ** 31 - 1][randomInt(8)] }
  }
}

/** Runs the fuzzer; the inspector session is closed before it returns. */
export const coverageGuidedFuzz = async (config: CoverageFuzzConfig): Promise<CoverageFuzzFigures> => {
  const session = new Session()
  session.connect()
  const seen = new Set<string>()
  /** Blocks of the watched scripts run since the last call (taking the coverage resets the counters). */
  const takeCovered = async (): Promise<Array<string>> => {
    const { result } = await session.post("Profiler.takePreciseCoverage")
    const covered: Array<string> = []
    for (const script of result) {
      if (!config.watch(script.url)) continue
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count > 0) covered.push(`${script.url}:${range.startOffset}:${range.endOffset}`)
        }
      }
    }
    return covered
  }
  /** Marks blocks as seen; answers how many were new. */
  const commit = (covered: ReadonlyArray<string>): number => {
    let fresh = 0
    for (const block of covered) {
      if (!seen.has(block)) {
        seen.add(block)
        fresh++
      }
    }
    return fresh
  }
  const started = Date.now()
  const corpus: Array<Uint8Array> = []
  const crashes: Array<{ input: string; error: string }> = []
  let crashCount = 0
  let inputs = 0
  const maxLength = config.maxLength ?? 4096
  const execute = (input: Uint8Array, counted: boolean) => {
    if (counted) inputs++
    try {
      config.target(input)
    } catch (error) {
      if (!counted) return
      crashCount++
      if (crashes.length < 5) {
        crashes.push({ input: Buffer.from(input).toString("hex"), error: String(error) })
      }
    }
  }
  const child = (): Uint8Array => {
    const parent = corpus[randomInt(corpus.length)]
    const made =
      Math.random() < 0.1
        ? concat(parent.subarray(0, randomInt(parent.byteLength + 1)), corpus[randomInt(corpus.length)])
        : mutate(
            parent,
            Array.from({ length: 1 + randomInt(5) }, () => randomMutation())
          )
    return made.byteLength > maxLength ? made.subarray(0, maxLength) : made
  }
  try {
    await session.post("Profiler.enable")
    await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true })
    await takeCovered()
    for (const seed of config.seeds) {
      execute(seed, true)
      if (commit(await takeCovered()) > 0) corpus.push(seed)
    }
    if (corpus.length === 0) corpus.push(...config.seeds)
    // Taking the coverage costs far more than one decode, so inputs run in batches and a
    // batch that reached a new block is replayed one input at a time to find which did.
    while (inputs < config.maxInputs && Date.now() - started < config.maxMillis) {
      // In-process inspector calls settle as microtasks: without a real turn of the event loop
      // now and then, timers and I/O (the test runner's own messages) would wait for the run to end.
      if (inputs % (BATCH * 64) < BATCH) await new Promise((resolve) => setImmediate(resolve))
      const batch = Array.from({ length: BATCH }, child)
      for (const input of batch) execute(input, true)
      const covered = await takeCovered()
      if (!covered.some((block) => !seen.has(block))) continue
      for (const input of batch) {
        execute(input, false)
        if (commit(await takeCovered()) > 0) corpus.push(input)
      }
      commit(covered)
    }
    await session.post("Profiler.stopPreciseCoverage")
    await session.post("Profiler.disable")
  } finally {
    session.disconnect()
  }
  return {
    inputs,
    corpus: corpus.length,
    blocks: seen.size,
    crashes: crashCount,
    firstCrashes: crashes,
    millis: Date.now() - started
  }
}
