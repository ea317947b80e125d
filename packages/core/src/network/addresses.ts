/**
 * Address hygiene: which multiaddrs only make sense inside one machine or
 * one private network. A public DHT neither hands such addresses to other
 * peers nor dials them: a remote peer cannot reach `10.0.0.5` of someone
 * else's LAN, and dialing it wastes a dial slot (or, worse, probes the
 * dialer's own LAN). A LAN DHT keeps them, since there they are the point.
 *
 * Plain functions over the first component of an address; a relayed
 * address (`…/p2p-circuit`) is judged by its relay's address, which is what
 * gets dialed.
 *
 * @module
 */
import type { Multiaddr } from "@multiformats/multiaddr"

/**
 * Maps the addresses of one peer to those worth keeping: applied to the
 * addresses a node sends in answers and to those it learns from answers
 * before it may dial them. Returning the input unchanged keeps everything.
 *
 * @example
 * ```ts
 * const noIp6: AddressFilter = (addrs) => addrs.filter((a) => !a.toString().startsWith("/ip6/"))
 * ```
 */
export type AddressFilter = (multiaddrs: ReadonlyArray<Multiaddr>) => ReadonlyArray<Multiaddr>

const v4Private = (ip: string): boolean => {
  const parts = ip.split(".").map(Number)
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n))) return false
  const [a, b] = parts as [number, number, number, number]
  return (
    a === 0 || // "this network"
    a === 10 ||
    a === 127 || // loopback
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168)
  )
}

const v6Private = (ip: string): boolean => {
  const lower = ip.toLowerCase()
  // an IPv4 address written as IPv6 is judged as IPv4
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (dotted !== null) return v4Private(dotted[1]!)
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower)
  if (hex !== null) {
    const high = Number.parseInt(hex[1]!, 16)
    const low = Number.parseInt(hex[2]!, 16)
    return v4Private(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`)
  }
  if (lower === "::1" || lower === "::") return true
  const head = Number.parseInt(lower.split(":")[0] || "0", 16)
  return (
    (head & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (head & 0xffc0) === 0xfe80 // link-local fe80::/10
  )
}

/** Whether an address is a loopback one: `127.0.0.0/8`, `::1` or the name `localhost`. */
export const isLoopbackAddress = (addr: Multiaddr): boolean => {
  const [first] = addr.getComponents()
  if (first?.value === undefined) return false
  switch (first.name) {
    case "ip4":
      return first.value.startsWith("127.")
    case "ip6":
      return first.value === "::1"
    case "dns":
    case "dns4":
    case "dns6":
      return first.value === "localhost" || first.value.endsWith(".localhost")
    default:
      return false
  }
}

/**
 * Whether an address is only reachable from this machine or its private
 * network: loopback, RFC 1918, carrier-grade NAT, link-local, unique local
 * IPv6, `localhost` and mDNS (`.local`) names, and Unix sockets. Other DNS
 * names are public (they may resolve anywhere, and resolving them is the
 * dialer's business), and so are transports without an IP (`/memory`).
 *
 * @example
 * ```ts
 * isPrivateAddress(multiaddr("/ip4/192.168.1.7/tcp/4001")) // true
 * isPrivateAddress(multiaddr("/dns4/node.example.org/tcp/4001")) // false
 * ```
 */
export const isPrivateAddress = (addr: Multiaddr): boolean => {
  const [first] = addr.getComponents()
  if (first === undefined) return false
  switch (first.name) {
    case "ip4":
      return first.value !== undefined && v4Private(first.value)
    case "ip6":
    case "ip6zone":
      return first.name === "ip6zone" || (first.value !== undefined && v6Private(first.value))
    case "dns":
    case "dns4":
    case "dns6":
    case "dnsaddr":
      return first.value !== undefined && (isLoopbackAddress(addr) || first.value.endsWith(".local"))
    case "unix":
      return true
    default:
      return false
  }
}

/** Keeps every address (a LAN DHT, or a test network on one machine). */
export const keepAllAddresses: AddressFilter = (addrs) => addrs

/** Keeps the addresses other peers on the internet can reach: drops private and loopback ones. */
export const publicAddressesOnly: AddressFilter = (addrs) => addrs.filter((addr) => !isPrivateAddress(addr))

/** Drops private addresses except loopback ones: a public-style filter for networks of nodes on one machine. */
export const publicAndLoopbackAddresses: AddressFilter = (addrs) =>
  addrs.filter((addr) => !isPrivateAddress(addr) || isLoopbackAddress(addr))
