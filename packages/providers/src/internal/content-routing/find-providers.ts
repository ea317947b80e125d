/**
 * Finding providers: local records, then a GET_PROVIDERS lookup whose
 * answers stream out as they arrive.
 *
 * @internal
 * @module
 */
import { MessageType, type NetworkShape, type PeerInfo, peerInfoFromWire, printableKey } from "@effect-kad/core"
import type { LookupEvent, PeerRoutingShape, QueryOutcome, QueryProgress } from "@effect-kad/routing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ProviderStoreServiceShape } from "../../store/service.js"

/** What finding providers works with. */
export interface FinderEnv {
  readonly network: NetworkShape
  readonly routing: PeerRoutingShape
  readonly store: ProviderStoreServiceShape
}

const getProvidersQuery =
  (env: FinderEnv, key: Uint8Array) =>
  (peer: PeerInfo, progress: QueryProgress): Effect.Effect<QueryOutcome<ReadonlyArray<PeerInfo>>, unknown> =>
    Effect.flatMap(
      env.routing.query(
        peer.id,
        {
          type: MessageType.GET_PROVIDERS,
          key: key as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: []
        },
        progress
      ),
      (response) => {
        const providers: Array<PeerInfo> = []
        for (const wire of response.providerPeers) {
          const provider = peerInfoFromWire(wire)
          if (provider !== undefined) providers.push(provider)
        }
        // the same address filter as FIND_NODE and GET_VALUE lookups, for providers and closer peers
        // alike: what is kept is remembered and may be dialed. A provider left without addresses is
        // still a provider (admit fills in what the peer store knows of it).
        return Effect.map(
          Effect.zip(
            env.routing.closerPeersFrom(peer.id, response),
            env.routing.filterAddressesFrom(peer.id, providers)
          ),
          ([closer, payload]) => ({ closer, payload })
        )
      }
    )

/**
 * The providers of `key`: local records first, then those the peers
 * closest to the key report, each provider once, until `count` (0: all).
 */
export const providersOf = (env: FinderEnv, key: Uint8Array, count: number): Stream.Stream<PeerInfo> =>
  Stream.suspend(() => {
    const seen = new Set<string>()
    const enough = () => count > 0 && seen.size >= count

    // A provider's first sighting wins; addresses it came without are
    // filled from the peer store, ones it came with are remembered there.
    const admit = (provider: PeerInfo): Effect.Effect<Option.Option<PeerInfo>> => {
      const id = provider.id.toString()
      if (seen.has(id) || enough()) return Effect.succeed(Option.none())
      seen.add(id)
      if (provider.multiaddrs.length > 0) {
        return Effect.as(env.network.rememberAddresses(provider), Option.some(provider))
      }
      return Effect.map(env.network.addressesOf(provider.id), (multiaddrs) =>
        Option.some<PeerInfo>({ id: provider.id, multiaddrs })
      )
    }

    const local = Stream.fromIterableEffect(
      env.store
        .getProviders(key)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("reading local provider records failed").pipe(
              Effect.annotateLogs({ key: printableKey(key), error: error.message }),
              Effect.as<Array<PeerInfo>>([])
            )
          )
        )
    ).pipe(
      Stream.mapEffect(admit),
      Stream.filterMap((admitted) => admitted)
    )

    const remote = Stream.asyncPush<PeerInfo>(
      (emit) =>
        env.routing
          .lookup(
            key,
            getProvidersQuery(env, key),
            { stopWhen: enough },
            (event: LookupEvent<ReadonlyArray<PeerInfo>, unknown>) =>
              event._tag === "PeerResponded" && event.outcome.payload !== undefined
                ? Effect.forEach(
                    event.outcome.payload,
                    (provider) =>
                      Effect.map(admit(provider), (admitted) => {
                        if (Option.isSome(admitted)) emit.single(admitted.value)
                      }),
                    { discard: true }
                  )
                : Effect.void
          )
          .pipe(Effect.ensuring(Effect.sync(() => emit.end())), Effect.forkScoped),
      { bufferSize: "unbounded" }
    )

    return Stream.concat(
      local,
      Stream.suspend(() => (enough() ? Stream.empty : remote))
    )
  })
