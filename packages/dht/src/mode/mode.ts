/**
 * Client, server, auto and auto-server mode.
 *
 * A server registers the DHT protocol (so identify advertises it and peers
 * add it to their routing tables) and answers requests; a client does
 * neither but still queries. In auto mode the node is a client until its
 * reachability becomes public, then a server, and back again when it
 * loses its public addresses. In auto-server mode (go's `ModeAutoServer`)
 * it is a server unless reachability is reported private.
 *
 * @module
 */
import { Network, type RequestHandler, type ServingMode } from "@effect-kad/core"
import type { DHTMode, RequestHook } from "@effect-kad/options"
import { RpcHandlers } from "@effect-kad/routing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Reachability } from "./reachability.js"

/** Operations of the {@link DhtMode} service. */
export interface DhtModeShape {
  /** The mode asked for in the options. */
  readonly configured: DHTMode
  /** What the node does right now. */
  readonly current: Effect.Effect<ServingMode>
  /** The current mode, then every change. */
  readonly changes: Stream.Stream<ServingMode>
  /** Switches between client and server; in auto mode reachability changes override it later. */
  readonly set: (mode: ServingMode) => Effect.Effect<void>
}

/** The serving mode of one DHT node. */
export class DhtMode extends Context.Tag("@effect-kad/dht/DhtMode")<DhtMode, DhtModeShape>() {
  /**
   * Serves the handlers of {@link RpcHandlers} while in server mode.
   * `reachability` drives auto and auto-server mode and is ignored
   * otherwise; `onRequest` sees every request served, before its handler.
   */
  static readonly layer = (
    configured: DHTMode,
    reachability: Stream.Stream<Reachability> = Stream.empty,
    onRequest?: RequestHook
  ): Layer.Layer<DhtMode, never, Network | RpcHandlers> =>
    Layer.scoped(
      DhtMode,
      Effect.gen(function* () {
        const network = yield* Network
        const rpc = yield* RpcHandlers
        const outer = yield* Effect.scope
        const state = yield* SubscriptionRef.make<ServingMode>("client")
        const serving = yield* Ref.make(Option.none<Scope.CloseableScope>())
        const lock = yield* Effect.makeSemaphore(1)
        const dispatch: RequestHandler =
          onRequest === undefined
            ? rpc.dispatch
            : (from, request) =>
                Effect.zipRight(
                  // the hook watches; a hook that throws must not cost the requester its answer
                  Effect.try(() => onRequest(from, request)).pipe(
                    Effect.catchAll((error) =>
                      Effect.logWarning("onRequestHook threw").pipe(Effect.annotateLogs({ error: String(error.error) }))
                    )
                  ),
                  rpc.dispatch(from, request)
                )

        const set = (mode: ServingMode) =>
          lock.withPermits(1)(
            Effect.gen(function* () {
              const current = yield* Ref.get(serving)
              if (mode === "server" && Option.isNone(current)) {
                const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
                yield* network.serve(dispatch).pipe(Scope.extend(scope))
                yield* Ref.set(serving, Option.some(scope))
              } else if (mode === "client" && Option.isSome(current)) {
                yield* Scope.close(current.value, Exit.void)
                yield* Ref.set(serving, Option.none())
              }
              if ((yield* SubscriptionRef.get(state)) !== mode) {
                yield* SubscriptionRef.set(state, mode)
                yield* Effect.logDebug(`DHT switched to ${mode} mode`)
              }
            })
          )

        if (configured === "server" || configured === "autoServer") yield* set("server")
        if (configured === "auto") {
          yield* reachability.pipe(
            Stream.runForEach((r) => set(r === "public" ? "server" : "client")),
            Effect.forkScoped
          )
        }
        if (configured === "autoServer") {
          yield* reachability.pipe(
            Stream.runForEach((r) => set(r === "private" ? "client" : "server")),
            Effect.forkScoped
          )
        }
        return {
          configured,
          current: SubscriptionRef.get(state),
          changes: state.changes,
          set
        } satisfies DhtModeShape
      })
    )
}
