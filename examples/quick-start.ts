/**
 * Quick Start: a basic DHT node and the key operations.
 *
 * Keys of `putValue` / `getValue` live in a namespace (`/notes/my-key`)
 * whose validator decides which values are acceptable and which of two is
 * better; every node of an application registers the same validators.
 *
 * @module
 */
import {
  type BootstrapPeerInput,
  DHTMode,
  IpfsDHT,
  MemoryProviderStore,
  NamespacedValidator,
  type PeerInfo,
  type Validator
} from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { createLibp2pHost } from "./host.js"

const MAX_TEXT_BYTES = 1024
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * A validator for short UTF-8 text values. Of two valid values it prefers
 * the greater one byte by byte: any total order works as long as every
 * node agrees; values that should replace older ones carry a version or a
 * timestamp instead (see `usage/distributed-storage.ts`).
 */
export const textValidator: Validator = {
  validate: (_key, value) => {
    if (value.byteLength === 0 || value.byteLength > MAX_TEXT_BYTES) {
      throw new Error(`a text value has 1 to ${MAX_TEXT_BYTES} bytes, got ${value.byteLength}`)
    }
    strictUtf8.decode(value)
  },
  select: (_key, values) => {
    let best = 0
    for (let i = 1; i < values.length; i++) if (compareBytes(values[i], values[best]) > 0) best = i
    return best
  }
}

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

/** The validator of the quick start: `/notes/...` keys hold text. */
export const quickStartValidator = (): NamespacedValidator => new NamespacedValidator({ notes: textValidator })

/** A CIDv1 (raw codec, sha2-256) for some text: the content address `provide` and `findProvidersAsync` take. */
export const cidForText = async (text: string): Promise<CID> =>
  CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)))

/**
 * The guide's basic node: a provider store, an `IpfsDHT` in auto mode,
 * `start()` and `bootstrap()`.
 */
export const startBasicNode = async (host: Libp2p, bootstrap: ReadonlyArray<BootstrapPeerInput>): Promise<IpfsDHT> => {
  const providerStore = new MemoryProviderStore()
  const dht = new IpfsDHT({
    host,
    providerStore,
    validator: quickStartValidator(),
    options: {
      mode: DHTMode.auto, // a client until the host has a public address, then a server
      bootstrapPeers: bootstrap
    }
  })
  await dht.start()
  try {
    await dht.bootstrap() // connect to the bootstrap peers and fill the routing table
  } catch (error) {
    await dht.close()
    throw error
  }
  return dht
}

/** What {@link basicDhtNode} saw before it shut down. */
export interface BasicNodeReport {
  readonly peerId: string
  readonly mode: "client" | "server"
  readonly routingTableSize: number
}

/**
 * The whole Quick Start `main`: creates a host, runs the DHT on it, and
 * cleans up both (the DHT first, then the host it runs on).
 */
export const basicDhtNode = async (bootstrap: ReadonlyArray<BootstrapPeerInput>): Promise<BasicNodeReport> => {
  const host = await createLibp2pHost()
  try {
    const dht = await startBasicNode(host, bootstrap)
    try {
      // your P2P application logic here
      return {
        peerId: host.peerId.toString(),
        mode: await dht.mode(),
        routingTableSize: await dht.routingTable.size()
      }
    } finally {
      await dht.close()
    }
  } finally {
    await host.stop()
  }
}

/** Results of {@link keyOperations}. */
export interface KeyOperationsResult {
  readonly peerInfo: PeerInfo | null
  readonly providers: ReadonlyArray<string>
  readonly value: string | null
}

/**
 * The guide's key operations: find a peer, provide content, find its
 * providers, store and read a value.
 */
export const keyOperations = async (
  dht: IpfsDHT,
  targetPeerId: PeerId,
  contentCid: CID
): Promise<KeyOperationsResult> => {
  // find a peer by ID
  const peerInfo = await dht.findPeer(targetPeerId)

  // publish that you provide content (true = announce to the network)
  await dht.provide(contentCid, true)

  // find providers of content, at most 10
  const providers: Array<string> = []
  for await (const provider of dht.findProvidersAsync(contentCid, 10)) {
    providers.push(provider.id.toString())
  }

  // store a value, then read it back
  await dht.putValue("/notes/my-key", new TextEncoder().encode("my-value"))
  const value = await dht.getValue("/notes/my-key")

  return { peerInfo, providers, value: value === null ? null : new TextDecoder().decode(value) }
}
