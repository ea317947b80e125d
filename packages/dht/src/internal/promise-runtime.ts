/**
 * The Promise side of the Promise facade: a `ManagedRuntime` built from a
 * layer on `start()` and released on `close()`, on which each call runs an
 * Effect (with the caller's timeout and `AbortSignal`) or iterates a
 * Stream, and turns an interruption into `AbortedError`.
 *
 * @module
 */
import { AbortedError, DHTClosedError, TimeoutError } from "@effect-kad/core"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { layerDebugLogging } from "../logging.js"

/** Per-call settings accepted by every operation. */
export interface CallOptions {
  /** Cancels the operation. */
  readonly signal?: AbortSignal
  /** Fails the operation with a `TimeoutError` after this long. */
  readonly timeout?: Duration.DurationInput
}

const squash = (cause: Cause.Cause<unknown>): unknown => {
  if (Cause.isInterruptedOnly(cause)) return new AbortedError({ operation: "DHT operation" })
  return Cause.squash(cause)
}

/**
 * A runtime for the services `R`, started once, closed once, refusing calls
 * after it closed.
 *
 * @example
 * ```ts
 * const runtime = new PromiseRuntime(Dht.layer(host))
 * const peers = await runtime.run("getClosestPeers", Effect.flatMap(Dht, (dht) => dht.getClosestPeers(key)))
 * await runtime.close()
 * ```
 */
export class PromiseRuntime<R> {
  private runtime: ManagedRuntime.ManagedRuntime<R, unknown> | undefined
  private starting: Promise<void> | undefined
  private closed = false

  constructor(private readonly layer: Layer.Layer<R, unknown>) {}

  /** Builds the layer once; a failed start can be retried. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new DHTClosedError({ operation: "start" }))
    if (this.starting === undefined) {
      const runtime = ManagedRuntime.make(Layer.provideMerge(this.layer, layerDebugLogging()))
      this.runtime = runtime
      this.starting = Effect.runPromiseExit(runtime.runtimeEffect).then(async (exit) => {
        if (Exit.isSuccess(exit)) return
        this.starting = undefined
        this.runtime = undefined
        await runtime.dispose()
        throw squash(exit.cause)
      })
    }
    return this.starting
  }

  /** Releases everything `start` built; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const runtime = this.runtime
    if (runtime === undefined) return
    await this.starting?.catch(() => undefined)
    await runtime.dispose()
  }

  /** Runs `effect` as `operation`, within the caller's timeout and signal. */
  async run<A>(operation: string, effect: Effect.Effect<A, unknown, R>, options?: CallOptions): Promise<A> {
    if (this.closed) throw new DHTClosedError({ operation })
    await this.start()
    const runtime = this.runtime
    if (runtime === undefined) throw new DHTClosedError({ operation })
    let program: Effect.Effect<A, unknown, R> = effect
    if (options?.timeout !== undefined) {
      const millis = Duration.toMillis(options.timeout)
      program = Effect.timeoutFail(program, {
        duration: millis,
        onTimeout: () => new TimeoutError({ operation, millis })
      })
    }
    if (options?.signal?.aborted) throw new AbortedError({ operation })
    const exit = await runtime.runPromiseExit(program, { signal: options?.signal })
    if (Exit.isSuccess(exit)) return exit.value
    if (Cause.isInterruptedOnly(exit.cause)) throw new AbortedError({ operation })
    throw squash(exit.cause)
  }

  /** Iterates `stream` as `operation`; ends early on the caller's timeout or signal. */
  iterate<A>(operation: string, stream: Stream.Stream<A, unknown, R>, options?: CallOptions): AsyncIterable<A> {
    const self = this
    return {
      async *[Symbol.asyncIterator]() {
        if (self.closed) throw new DHTClosedError({ operation })
        await self.start()
        const runtime = self.runtime
        if (runtime === undefined) throw new DHTClosedError({ operation })
        let source: Stream.Stream<A, unknown, R> = stream
        if (options?.timeout !== undefined) source = Stream.interruptAfter(source, options.timeout)
        const context = await runtime.runtime()
        const iterable: AsyncIterable<A> = Stream.toAsyncIterableRuntime(source, context)
        for await (const item of iterable) {
          if (options?.signal?.aborted) return
          yield item
        }
      }
    }
  }
}
