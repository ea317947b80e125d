/**
 * Server-side handlers of the provider messages: ADD_PROVIDER stores the
 * sender as a provider of a key, GET_PROVIDERS answers with the stored
 * providers and the closest peers known.
 *
 * @module
 */
import {
  DECODE_LIMITS,
  encodeMessage,
  MAX_MESSAGE_SIZE,
  Message,
  MessageType,
  Network,
  type PeerInfo,
  peerInfoFromWire,
  printableKey,
  RequestRefusedError
} from "@effect-kad/core"
import { PeerRouting, RpcHandlers } from "@effect-kad/routing"
import type { PeerId } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { validateProviderKey } from "../store/provider-store.js"
import { ProviderStoreService } from "../store/service.js"

/**
 * Room left under core's `MAX_MESSAGE_SIZE` when filling a GET_PROVIDERS
 * response: the frame's length prefix, and slack for an encoder on the
 * other side that counts a field differently, so the answer is never
 * refused for a few bytes.
 */
export const GET_PROVIDERS_RESPONSE_MARGIN = 16 * 1024

/** Largest encoded GET_PROVIDERS response this node sends, in bytes. */
export const MAX_GET_PROVIDERS_RESPONSE_SIZE = MAX_MESSAGE_SIZE - GET_PROVIDERS_RESPONSE_MARGIN

const varintLength = (value: number): number => {
  let length = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    length++
  }
  return length
}

/** Tag byte of field 9 (providerPeers), wire type 2. */
const PROVIDER_PEERS_TAG_BYTES = 1

/**
 * The providers of `candidates` that fit into `response` without its
 * encoding growing past `budget` bytes, in order. Each provider costs its
 * field tag, a length prefix and its own bytes, so sizes add up exactly and
 * the message is encoded once to measure its other fields.
 */
export const fitProviderPeers = (
  response: Message,
  candidates: ReadonlyArray<Message.Peer>,
  budget: number = MAX_GET_PROVIDERS_RESPONSE_SIZE
): Array<Message.Peer> => {
  let size = encodeMessage({ ...response, providerPeers: [] }).byteLength
  const out: Array<Message.Peer> = []
  for (const peer of candidates) {
    if (out.length === DECODE_LIMITS.providerPeers) break
    const bytes = Message.Peer.encode(peer).byteLength
    size += PROVIDER_PEERS_TAG_BYTES + varintLength(bytes) + bytes
    if (size > budget) break
    out.push(peer)
  }
  return out
}

// Peers decode with at most DECODE_LIMITS.addrs addresses; more would make
// the whole response unreadable to us and to any peer with the same bound.
const boundedAddrs = (peer: PeerInfo): PeerInfo =>
  peer.multiaddrs.length <= DECODE_LIMITS.addrs
    ? peer
    : { id: peer.id, multiaddrs: peer.multiaddrs.slice(0, DECODE_LIMITS.addrs) }

/**
 * Answers ADD_PROVIDER. Only entries naming the sender itself are stored
 * (anyone could otherwise announce someone else as a provider), and, as
 * go-libp2p-kad-dht and @libp2p/kad-dht do, only entries carrying
 * addresses. Nothing is sent back: go servers never answer ADD_PROVIDER.
 */
export const handleAddProvider = (from: PeerId, request: Message) =>
  Effect.gen(function* () {
    const key = request.key
    if (key === undefined || Either.isLeft(validateProviderKey(key))) {
      yield* Effect.logDebug("ADD_PROVIDER with an invalid key refused").pipe(
        Effect.annotateLogs({ from: from.toString(), keyBytes: key?.byteLength ?? 0 })
      )
      return yield* new RequestRefusedError({ reason: "ADD_PROVIDER key must be 1 to 80 bytes" })
    }
    const store = yield* ProviderStoreService
    const network = yield* Network
    for (const wire of request.providerPeers) {
      const provider = peerInfoFromWire(wire)
      if (provider === undefined) continue
      if (!provider.id.equals(from)) {
        yield* Effect.logDebug("ADD_PROVIDER naming another peer than its sender dropped").pipe(
          Effect.annotateLogs({ from: from.toString(), named: provider.id.toString(), key: printableKey(key) })
        )
        continue
      }
      if (provider.multiaddrs.length === 0) {
        yield* Effect.logDebug("ADD_PROVIDER without addresses ignored").pipe(
          Effect.annotateLogs({ from: from.toString(), key: printableKey(key) })
        )
        continue
      }
      const bounded = boundedAddrs(provider)
      yield* network.rememberAddresses(bounded)
      yield* store
        .addProvider(key, bounded)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("storing a provider record failed").pipe(
              Effect.annotateLogs({ from: from.toString(), key: printableKey(key), error: error.message })
            )
          )
        )
    }
    return undefined
  })

/**
 * Answers GET_PROVIDERS with the live providers of the key (most recently
 * announced first, as many as fit in one message) and the closest peers
 * of the routing table. A key of the wrong length is refused (the stream
 * is reset).
 */
export const handleGetProviders = (from: PeerId, request: Message) =>
  Effect.gen(function* () {
    const key = request.key
    if (key === undefined || Either.isLeft(validateProviderKey(key))) {
      yield* Effect.logDebug("GET_PROVIDERS with an invalid key refused").pipe(
        Effect.annotateLogs({ from: from.toString(), keyBytes: key?.byteLength ?? 0 })
      )
      return yield* new RequestRefusedError({ reason: "GET_PROVIDERS key must be 1 to 80 bytes" })
    }
    const store = yield* ProviderStoreService
    const routing = yield* PeerRouting
    const closerPeers = yield* routing.closerPeersFor(key, from)
    const providers = yield* store
      .getProviders(key, { limit: DECODE_LIMITS.providerPeers })
      .pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("reading provider records failed").pipe(
            Effect.annotateLogs({ key: printableKey(key), error: error.message }),
            Effect.as<Array<PeerInfo>>([])
          )
        )
      )
    const candidates = yield* routing.peersForResponse(providers.map(boundedAddrs), from)
    const response: Message = {
      type: MessageType.GET_PROVIDERS,
      key: key as Uint8Array<ArrayBuffer>,
      closerPeers,
      providerPeers: []
    }
    const providerPeers = fitProviderPeers(response, candidates)
    if (providerPeers.length < candidates.length) {
      yield* Effect.logDebug("GET_PROVIDERS response truncated to fit one message").pipe(
        Effect.annotateLogs({ key: printableKey(key), sent: providerPeers.length, stored: candidates.length })
      )
    }
    const answer: Message = { ...response, providerPeers }
    return answer
  })

/**
 * Registers ADD_PROVIDER and GET_PROVIDERS with the node's `RpcHandlers`.
 *
 * @example
 * ```ts
 * const node = layerProviderHandlers.pipe(
 *   Layer.provide(ProviderStoreService.layerMemory()),
 *   Layer.provideMerge(layerPeerRouting(config)),
 *   Layer.provideMerge(networkLayer)
 * )
 * ```
 */
export const layerProviderHandlers = RpcHandlers.register<ProviderStoreService | PeerRouting | Network>({
  [MessageType.ADD_PROVIDER]: handleAddProvider,
  [MessageType.GET_PROVIDERS]: handleGetProviders
})
