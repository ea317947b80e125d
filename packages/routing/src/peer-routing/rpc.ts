/**
 * The registry of server-side handlers, one per message type. Each DHT
 * concern registers its own handlers when its layer is built (routing:
 * FIND_NODE and PING; values: PUT_VALUE and GET_VALUE; providers:
 * ADD_PROVIDER and GET_PROVIDERS), and the network serves `dispatch`.
 *
 * @module
 */

import type { Message, MessageType, RequestHandler, RequestRefusedError } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** A handler for one message type; failing refuses the request (the stream is reset). */
export type MessageHandler = (from: PeerId, request: Message) => Effect.Effect<Message | undefined, RequestRefusedError>

/** Operations of the {@link RpcHandlers} service. */
export interface RpcHandlersShape {
  /** Installs the handler of a message type, replacing any previous one. */
  readonly register: (type: MessageType, handler: MessageHandler) => Effect.Effect<void>
  /** Routes an inbound request to its handler; unknown or unhandled types get no answer. */
  readonly dispatch: RequestHandler
  /** Message types with a handler. */
  readonly registered: Effect.Effect<ReadonlyArray<MessageType>>
}

/** The handler registry of one DHT node. */
export class RpcHandlers extends Context.Tag("@effect-kad/routing/RpcHandlers")<RpcHandlers, RpcHandlersShape>() {
  /** An empty registry. */
  static readonly make: Effect.Effect<RpcHandlersShape> = Effect.suspend(() => RpcHandlers.makeWithout([]))

  /**
   * An empty registry that never registers handlers of the `disabled`
   * types, so requests of those types go unanswered (a DHT with values or
   * providers turned off).
   */
  static readonly makeWithout = (disabled: ReadonlyArray<MessageType>): Effect.Effect<RpcHandlersShape> =>
    Effect.sync(() => {
      const handlers = new Map<MessageType, MessageHandler>()
      const refused = new Set(disabled)
      return {
        register: (type, handler) => Effect.sync(() => void (refused.has(type) || handlers.set(type, handler))),
        dispatch: (from, request) => {
          const handler = request.type === undefined ? undefined : handlers.get(request.type)
          if (handler === undefined) return Effect.succeed(undefined)
          // a handler bug must cost one answer, never the serving loop
          return handler(from, request).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.logWarning("DHT request handler failed").pipe(
                Effect.annotateLogs({ type: String(request.type), defect: String(defect) }),
                Effect.as(undefined)
              )
            )
          )
        },
        registered: Effect.sync(() => [...handlers.keys()])
      }
    })

  /** The registry as a layer. */
  static readonly layer: Layer.Layer<RpcHandlers> = Layer.effect(RpcHandlers, RpcHandlers.make)

  /** {@link RpcHandlers.makeWithout} as a layer. */
  static readonly layerWithout = (disabled: ReadonlyArray<MessageType>): Layer.Layer<RpcHandlers> =>
    Layer.effect(RpcHandlers, RpcHandlers.makeWithout(disabled))

  /**
   * A layer that registers handlers built from services in context, e.g.
   * `RpcHandlers.register({ [MessageType.FIND_NODE]: handleFindNode })`.
   */
  static readonly register = <R>(
    entries: Partial<
      Record<
        MessageType,
        (from: PeerId, request: Message) => Effect.Effect<Message | undefined, RequestRefusedError, R>
      >
    >
  ): Layer.Layer<never, never, RpcHandlers | R> =>
    Layer.effectDiscard(
      Effect.gen(function* () {
        const rpc = yield* RpcHandlers
        const context = yield* Effect.context<R>()
        for (const [type, handler] of Object.entries(entries) as Array<
          [MessageType, (from: PeerId, request: Message) => Effect.Effect<Message | undefined, RequestRefusedError, R>]
        >) {
          yield* rpc.register(type, (from, request) => Effect.provide(handler(from, request), context))
        }
      })
    )
}
