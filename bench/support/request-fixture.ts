/**
 * What the request-handling server holds and what the load generator asks
 * it, shared by the suite (parent process) and the server (child process).
 *
 * @module
 */
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import type { Impl } from "./hosts.js"

/** Peers offered to the server's routing table before the load starts. */
export const ROUTING_TABLE_PEERS = 200

/** Providers stored for the GET_PROVIDERS key. */
export const PROVIDERS = 10

/** Closer peers a FIND_NODE or GET_PROVIDERS answer carries when the table holds enough peers (k). */
export const CLOSER_PEERS = 20

/** The content whose providers GET_PROVIDERS asks for: CIDv1, raw codec, sha256 of a fixed text. */
export const providerCid = async (): Promise<CID> =>
  CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("request-handling bench content")))

/**
 * The address of the i-th made-up peer: a private IPv4 address that no
 * host listens on. Both servers hand it out as given (no localhost filter
 * applies) and neither can reach it, which is fine: nothing dials it while
 * the load runs.
 */
export const madeUpAddress = (i: number): Multiaddr =>
  multiaddr(`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/4001`)

/** The `start` command's argument. */
export interface StartServer {
  readonly impl: Impl
}

/** What the server reports once it is started and filled. */
export interface ServerInfo {
  readonly peerId: string
  readonly addresses: ReadonlyArray<string>
  /** Peers its routing table kept of the {@link ROUTING_TABLE_PEERS} offered. */
  readonly tableSize: number
  /** Providers its store returns for the key. */
  readonly providers: number
  readonly version: string
}

/** The `usage` command's answer: the server process's resource use now. */
export interface ServerUsage {
  readonly cpu: NodeJS.CpuUsage
  readonly rss: number
  readonly heapUsed: number
}
