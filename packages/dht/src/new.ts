/**
 * `DHT.new_`, the guide's functional constructor.
 *
 * @module
 */
import type { Libp2pNetwork } from "@effect-kad/core"
import type { DHTOption } from "@effect-kad/options"
import type { ProviderStore } from "@effect-kad/providers"
import { Dht } from "./dht.js"
import { IpfsDHT } from "./ipfs-dht.js"

/**
 * Builds a started-on-demand {@link IpfsDHT} from a host, a provider store
 * and a list of options. Resolves once the options are validated and every
 * layer is built; rejects with `InvalidOptionError` naming the field of a
 * bad option.
 *
 * @example
 * ```ts
 * const dht = await DHT.new_(host, new MemoryProviderStore(), [
 *   mode(DHTMode.server),
 *   bucketSize(30),
 *   enableOptimisticProvide()
 * ])
 * await dht.start()
 * ```
 */
const new_ = async (
  host: Libp2pNetwork.Libp2pHostLike,
  providerStore: ProviderStore | undefined,
  options: ReadonlyArray<DHTOption> = []
): Promise<IpfsDHT> => {
  const dht = new IpfsDHT({ host, providerStore, options })
  await dht.start()
  return dht
}

/** The guide's `DHT` namespace: `DHT.new_` for Promise users, the layers for Effect users. */
export const DHT = {
  new_,
  layer: Dht.layer,
  layerWith: Dht.layerWith
} as const
