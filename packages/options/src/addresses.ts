/**
 * Address hygiene options: which addresses a node sends in answers and
 * dials after learning them, and the LAN profile that keeps private ones.
 *
 * A public DHT (the default `/ipfs/kad/1.0.0`) keeps public addresses only,
 * as go-libp2p-kad-dht's and js's public DHTs do; a LAN DHT
 * (`/ipfs/lan/kad/1.0.0`, kubo's second DHT) keeps every address.
 *
 * @module
 */
import { type AddressFilter, keepAllAddresses, publicAddressesOnly, publicAndLoopbackAddresses } from "@effect-kad/core"
import * as Schema from "effect/Schema"
import { type DHTOption, withOptions } from "./combinators.js"
import type { DHTConfig } from "./config.js"
import { show } from "./fields.js"

/** An {@link AddressFilter} function. */
export const AddressFilterSchema: Schema.Schema<AddressFilter> = Schema.declare(
  (value: unknown): value is AddressFilter => typeof value === "function",
  {
    identifier: "AddressFilter",
    message: (issue) =>
      `must be a function (multiaddrs: ReadonlyArray<Multiaddr>) => ReadonlyArray<Multiaddr>, got ${show(issue.actual)}`
  }
)

/** The protocol prefix of kubo's LAN DHT. */
export const LAN_PROTOCOL_PREFIX = "/ipfs/lan"

/**
 * Sets which addresses are sent in answers and kept when learned from
 * answers (so dialed by lookups).
 *
 * @example
 * ```ts
 * import { keepAllAddresses } from "@effect-kad/core"
 * const dht = await DHT.new_(host, store, [addressFilter(keepAllAddresses)])
 * ```
 */
export const addressFilter = (filter: AddressFilter): DHTOption => withOptions({ addressFilter: filter })

/**
 * The LAN profile, as kubo's second DHT: protocol `/ipfs/lan/kad/1.0.0`,
 * private and loopback addresses kept in answers and dialed, metrics under
 * `libp2p_kad_dht_lan` so both DHTs of a node can report side by side.
 *
 * @example
 * ```ts
 * const lan = await DHT.new_(host, store, [lanDHT(), mode(DHTMode.server)])
 * ```
 */
export const lanDHT = (): DHTOption =>
  withOptions({
    protocolPrefix: LAN_PROTOCOL_PREFIX,
    addressFilter: keepAllAddresses,
    metricsPrefix: "libp2p_kad_dht_lan"
  })

/** Whether a protocol prefix names a LAN DHT (`/ipfs/lan`, or any prefix whose last segment is `lan`). */
export const isLanPrefix = (protocolPrefix: string): boolean => protocolPrefix.endsWith("/lan")

/**
 * The address filter a config runs with: the one it sets, else every
 * address on a LAN DHT, else public addresses only (plus loopback ones when
 * `filterLocalhostInResponses` is off, for networks of nodes on one
 * machine).
 *
 * @example
 * ```ts
 * const filter = effectiveAddressFilter(yield* DHTConfig.fromOptions([lanDHT()]))
 * filter([multiaddr("/ip4/192.168.1.2/tcp/4001")]) // kept
 * ```
 */
export const effectiveAddressFilter = (config: DHTConfig): AddressFilter => {
  if (config.addressFilter._tag === "Some") return config.addressFilter.value
  if (isLanPrefix(config.protocolPrefix)) return keepAllAddresses
  return config.filterLocalhostInResponses ? publicAddressesOnly : publicAndLoopbackAddresses
}
