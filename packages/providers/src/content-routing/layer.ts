/**
 * The provider half of a DHT node as one layer: provider storage, content
 * routing and the ADD_PROVIDER / GET_PROVIDERS handlers.
 *
 * @module
 */
import { InvalidOptionError, type Network } from "@effect-kad/core"
import type { PeerRouting, RpcHandlers } from "@effect-kad/routing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ProviderStore } from "../store/provider-store.js"
import { DEFAULT_PROVIDER_CLEANUP_INTERVAL_MILLIS, ProviderStoreService } from "../store/service.js"
import { ContentRouting, type ContentRoutingConfig } from "./content-routing.js"
import { layerProviderHandlers } from "./handlers.js"

/** Settings of {@link layerContentRouting}. */
export interface ContentRoutingLayerConfig extends ContentRoutingConfig {
  /**
   * How long a provider's addresses are handed out after it announced
   * (default 24 hours). Used by the in-memory store built when no
   * `providerStore` is given.
   */
  readonly providerAddrTTL?: Duration.DurationInput
  /**
   * The application's store. It keeps its own timing (its
   * `provideValidity`, `providerAddrTTL`) and is not closed with the layer.
   * Absent: an in-memory store with this config's timing, closed with the layer.
   */
  readonly providerStore?: ProviderStore
  /** Time between two cleanups of expired provider records (default 1 hour); `Duration.infinity` for none. */
  readonly cleanupInterval?: Duration.DurationInput
}

const cleanupMillis = (input: Duration.DurationInput | undefined): Effect.Effect<number, InvalidOptionError> => {
  if (input === undefined) return Effect.succeed(DEFAULT_PROVIDER_CLEANUP_INTERVAL_MILLIS)
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.toMillis(decoded.value) > 0
    ? Effect.succeed(Duration.toMillis(decoded.value))
    : Effect.fail(new InvalidOptionError({ field: "cleanupInterval", reason: "must be a positive duration" }))
}

/**
 * Provider storage, {@link ContentRouting} and the provider message
 * handlers for a node whose `PeerRouting`, `RpcHandlers` and `Network` are
 * in context (a `NetworkSizeEstimator` there enables optimistic provide).
 *
 * @example
 * ```ts
 * const sim = yield* makeSimulation({ size: 100 }, layerContentRouting({ reprovideInterval: "22 hours" }))
 * yield* sim.nodes[0].run(Effect.flatMap(ContentRouting, (c) => c.provide(cid)))
 * ```
 */
export const layerContentRouting = (
  config: ContentRoutingLayerConfig = {}
): Layer.Layer<ProviderStoreService | ContentRouting, InvalidOptionError, PeerRouting | RpcHandlers | Network> => {
  const store = Layer.unwrapEffect(
    Effect.map(cleanupMillis(config.cleanupInterval), (cleanupIntervalMillis) =>
      config.providerStore === undefined
        ? ProviderStoreService.layerMemory({
            provideValidity: config.provideValidity,
            providerAddrTTL: config.providerAddrTTL,
            cleanupIntervalMillis
          })
        : ProviderStoreService.layer(config.providerStore, { cleanupIntervalMillis })
    )
  )
  return Layer.mergeAll(ContentRouting.layer(config), layerProviderHandlers).pipe(Layer.provideMerge(store))
}
