/**
 * IP diversity for the routing table: peers are grouped by the network their
 * addresses sit in, and no group may hold more than a few slots per bucket
 * or per table. This blunts Sybil and eclipse attacks that mint many peer
 * IDs behind one network.
 *
 * @module
 */
import type { Multiaddr } from "@multiformats/multiaddr"

/** Multiaddr protocol code of `ip4`. */
const IP4 = 4
/** Multiaddr protocol code of `ip6`. */
const IP6 = 41
/** Multiaddr protocol code of `ip6zone`, which may precede `ip6`. */
const IP6ZONE = 42

/**
 * The IP group an address belongs to: `ip4/a.b` for the IPv4 /16, `ip6/x:y`
 * for the IPv6 /32. IPv4-mapped IPv6 addresses count as IPv4. Returns
 * undefined for addresses without an IP (DNS names, `/memory`, …).
 *
 * The first IP component decides, so a relayed address
 * (`/ip4/…/p2p/relay/p2p-circuit`) is grouped with its relay, which is what
 * an attacker hiding many IDs behind one relay would share.
 *
 * @example
 * ```ts
 * ipGroupOf(multiaddr("/ip4/203.0.113.7/tcp/4001")) // "ip4/203.0"
 * ipGroupOf(multiaddr("/ip6/2001:db8::1/udp/4001/quic-v1")) // "ip6/2001:db8"
 * ```
 */
export const ipGroupOf = (addr: Multiaddr): string | undefined => {
  for (const component of addr.getComponents()) {
    if (component.code === IP6ZONE) continue
    if (component.code === IP4) {
      const octets = parseIpv4(component.value ?? "")
      return octets === undefined ? undefined : ipv4Group(octets[0], octets[1])
    }
    if (component.code === IP6) {
      const groups = parseIpv6(component.value ?? "")
      if (groups === undefined) return undefined
      if (isIpv4Mapped(groups)) return ipv4Group(groups[6] >>> 8, groups[6] & 0xff)
      return `ip6/${groups[0].toString(16)}:${groups[1].toString(16)}`
    }
    return undefined
  }
  return undefined
}

/** The distinct IP groups of a peer's addresses (a peer counts once per group however many addresses it has there). */
export const ipGroupsOf = (addrs: ReadonlyArray<Multiaddr>): ReadonlyArray<string> => {
  const groups: Array<string> = []
  for (const addr of addrs) {
    const group = ipGroupOf(addr)
    if (group !== undefined && !groups.includes(group)) groups.push(group)
  }
  return groups
}

const ipv4Group = (a: number, b: number): string => `ip4/${a}.${b}`

const isIpv4Mapped = (groups: ReadonlyArray<number>): boolean =>
  groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff

const parseIpv4 = (text: string): ReadonlyArray<number> | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const out: Array<number> = []
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    out.push(n)
  }
  return out
}

const parseIpv6Parts = (parts: ReadonlyArray<string>): Array<number> | undefined => {
  const out: Array<number> = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (part.includes(".")) {
      // an embedded dotted quad is only valid as the last 32 bits
      if (i !== parts.length - 1) return undefined
      const v4 = parseIpv4(part)
      if (v4 === undefined) return undefined
      out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3])
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined
      out.push(Number.parseInt(part, 16))
    }
  }
  return out
}

/** The eight 16-bit groups of an IPv6 address in text form, or undefined when malformed. */
const parseIpv6 = (input: string): ReadonlyArray<number> | undefined => {
  const zone = input.indexOf("%")
  const text = zone >= 0 ? input.slice(0, zone) : input
  const gap = text.indexOf("::")
  if (gap < 0) {
    const groups = parseIpv6Parts(text.split(":"))
    return groups !== undefined && groups.length === 8 ? groups : undefined
  }
  const headText = text.slice(0, gap)
  const tailText = text.slice(gap + 2)
  const head = parseIpv6Parts(headText === "" ? [] : headText.split(":"))
  const tail = parseIpv6Parts(tailText === "" ? [] : tailText.split(":"))
  if (head === undefined || tail === undefined) return undefined
  const fill = 8 - head.length - tail.length
  if (fill < 1) return undefined
  return [...head, ...new Array<number>(fill).fill(0), ...tail]
}

/**
 * Counts of table slots per IP group, overall and per bucket, checked before
 * a peer is admitted. Plain mutable state: callers serialise access.
 */
export class DiversityCounter {
  private readonly perTable = new Map<string, number>()
  private readonly perBucket = new Map<number, Map<string, number>>()

  constructor(
    readonly maxPerGroupPerBucket: number,
    readonly maxPerGroupPerTable: number
  ) {}

  /**
   * Whether a peer in bucket `cpl` with `groups` fits the limits. `replacing`
   * names groups the same peer already holds in that bucket (an address
   * update), which are not counted against it.
   */
  allows(cpl: number, groups: ReadonlyArray<string>, replacing: ReadonlyArray<string> = []): boolean {
    const bucket = this.perBucket.get(cpl)
    for (const group of groups) {
      const own = replacing.includes(group) ? 1 : 0
      if ((this.perTable.get(group) ?? 0) - own >= this.maxPerGroupPerTable) return false
      if ((bucket?.get(group) ?? 0) - own >= this.maxPerGroupPerBucket) return false
    }
    return true
  }

  add(cpl: number, groups: ReadonlyArray<string>): void {
    let bucket = this.perBucket.get(cpl)
    if (bucket === undefined) {
      bucket = new Map()
      this.perBucket.set(cpl, bucket)
    }
    for (const group of groups) {
      this.perTable.set(group, (this.perTable.get(group) ?? 0) + 1)
      bucket.set(group, (bucket.get(group) ?? 0) + 1)
    }
  }

  remove(cpl: number, groups: ReadonlyArray<string>): void {
    const bucket = this.perBucket.get(cpl)
    for (const group of groups) {
      decrement(this.perTable, group)
      if (bucket !== undefined) decrement(bucket, group)
    }
    if (bucket !== undefined && bucket.size === 0) this.perBucket.delete(cpl)
  }
}

const decrement = (counts: Map<string, number>, key: string): void => {
  const n = (counts.get(key) ?? 0) - 1
  if (n > 0) counts.set(key, n)
  else counts.delete(key)
}
