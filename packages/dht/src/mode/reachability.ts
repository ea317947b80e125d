/**
 * Whether this node looks reachable from the public internet, the signal
 * auto mode switches on. A node is "public" when it has at least one
 * listen or observed address that is neither loopback, private, link-local
 * nor carrier-grade NAT space.
 *
 * @module
 */
import { isPrivateAddress, type Libp2pNetwork } from "@effect-kad/core"
import type { Multiaddr } from "@multiformats/multiaddr"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** The reachability of this node. */
export type Reachability = "public" | "private"

/** Whether an address could be dialed from the public internet: an IP or DNS address that is not private. */
export const isPublicAddress = (addr: Multiaddr): boolean => {
  const [first] = addr.getComponents()
  if (first === undefined || first.value === undefined) return false
  return ["ip4", "ip6", "dns", "dns4", "dns6", "dnsaddr"].includes(first.name) && !isPrivateAddress(addr)
}

/** Reachability implied by a set of addresses. */
export const reachabilityOf = (addrs: ReadonlyArray<Multiaddr>): Reachability =>
  addrs.some(isPublicAddress) ? "public" : "private"

const addressesOf = (host: Libp2pNetwork.Libp2pHostLike): Array<Multiaddr> =>
  "getMultiaddrs" in host ? host.getMultiaddrs() : host.addressManager.getAddresses()

interface SelfUpdateTarget {
  addEventListener(type: "self:peer:update", listener: () => void): void
  removeEventListener(type: "self:peer:update", listener: () => void): void
}

/**
 * The reachability of a libp2p host, now and whenever its own addresses
 * change (`self:peer:update`, which js-libp2p fires when listen, observed or
 * AutoNAT-confirmed addresses change). Repeats are dropped.
 */
export const hostReachability = (host: Libp2pNetwork.Libp2pHostLike): Stream.Stream<Reachability> => {
  const target = ("events" in host ? host.events : host) as unknown as SelfUpdateTarget
  const updates = Stream.asyncPush<Reachability>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const listener = () => void emit.single(reachabilityOf(addressesOf(host)))
        target.addEventListener("self:peer:update", listener)
        return listener
      }),
      (listener) => Effect.sync(() => target.removeEventListener("self:peer:update", listener))
    )
  )
  return Stream.concat(Stream.fromEffect(Effect.sync(() => reachabilityOf(addressesOf(host)))), updates).pipe(
    Stream.changes
  )
}

/**
 * Signals each change of a libp2p host's own addresses (`self:peer:update`
 * events that leave the address set as it was are dropped), for the self
 * lookup that makes a moved node findable again.
 *
 * @example
 * ```ts
 * const layer = Dht.layerWith(config, network, hostReachability(node), hostAddressChanges(node))
 * ```
 */
export const hostAddressChanges = (host: Libp2pNetwork.Libp2pHostLike): Stream.Stream<void> => {
  const target = ("events" in host ? host.events : host) as unknown as SelfUpdateTarget
  const snapshot = () =>
    addressesOf(host)
      .map((addr) => addr.toString())
      .sort()
      .join(" ")
  return Stream.asyncPush<string>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const listener = () => void emit.single(snapshot())
        target.addEventListener("self:peer:update", listener)
        return listener
      }),
      (listener) => Effect.sync(() => target.removeEventListener("self:peer:update", listener))
    )
  ).pipe(
    // the addresses at start are no change: they seed the comparison only
    (updates) => Stream.concat(Stream.fromEffect(Effect.sync(snapshot)), updates),
    Stream.changes,
    Stream.drop(1),
    Stream.as(undefined)
  )
}
