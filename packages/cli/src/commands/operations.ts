/**
 * The one-shot commands: each joins the network through `--bootstrap`
 * peers as a temporary client node, runs one DHT operation, prints the
 * result and exits (non-zero when it failed or found nothing).
 *
 * @module
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import type { PeerInfo } from "@effect-kad/dht"
import type { PeerId } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import * as Effect from "effect/Effect"
import { CID } from "multiformats/cid"
import { NothingFoundError } from "../errors.js"
import { call } from "../kad-node.js"
import { emit, reported } from "../output.js"
import { dhtKeyFor, encodeCliValue, showValue } from "../values.js"
import { bootstrapOption, jsonOption, timeoutOption, withClientNode } from "./common.js"

/** A peer as printed: its ID and addresses. */
export interface PrintedPeer {
  readonly id: string
  readonly addresses: ReadonlyArray<string>
}

/** A peer as printed, with addresses that name their peer as `/p2p/<id>` left as they are. */
export const printedPeer = (peer: PeerInfo): PrintedPeer => ({
  id: peer.id.toString(),
  addresses: peer.multiaddrs.map((addr) => addr.toString())
})

const peerLines = (peers: ReadonlyArray<PrintedPeer>): string =>
  peers.map((peer) => [peer.id, ...peer.addresses.map((addr) => `  ${addr}`)].join("\n")).join("\n")

const encoder = new TextEncoder()

const cidArg = Args.text({ name: "cid" }).pipe(
  Args.withDescription("A content identifier, such as bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy."),
  Args.mapEffect((text) =>
    Effect.try({
      try: () => CID.parse(text),
      catch: () => HelpDoc.p(`${text} is not a CID`)
    })
  )
)

const shared = { bootstrap: bootstrapOption, json: jsonOption, timeout: timeoutOption }

/** `kad-dht put <key> <value>`: stores a value under a `/cli/` key (or a key of a registered namespace). */
export const putCommand = Command.make(
  "put",
  {
    key: Args.text({ name: "key" }).pipe(
      Args.withDescription("The key; put under /cli/ unless it starts with /cli/, /pk/ or /ipns/.")
    ),
    value: Args.text({ name: "value" }).pipe(Args.withDescription("The value, as text (at most 10 KiB stored).")),
    ...shared
  },
  ({ key, value, bootstrap, json, timeout }) =>
    reported(
      json,
      withClientNode("put", bootstrap, timeout, (node) =>
        Effect.gen(function* () {
          const dhtKey = dhtKeyFor(key, node.validator.namespaces())
          const t = Date.now()
          const bytes = dhtKey.startsWith("/cli/") ? encodeCliValue(value, t) : encoder.encode(value)
          yield* call("put", (signal) => node.dht.putValue(dhtKey, bytes, { signal }))
          yield* emit(
            json,
            () => ({ ok: true, command: "put", key: dhtKey, value, bytes: bytes.byteLength }),
            () => `stored ${dhtKey} (${bytes.byteLength} bytes)`
          )
        })
      )
    )
).pipe(Command.withDescription("Store a value in the DHT."))

/** `kad-dht get <key>`: fetches the best value for a key. */
export const getCommand = Command.make(
  "get",
  {
    key: Args.text({ name: "key" }).pipe(Args.withDescription("The key, prefixed with /cli/ as `put` does.")),
    quorum: Options.integer("quorum").pipe(
      Options.withDescription("Stop once this many answers agree (default: run the lookup to the end)."),
      Options.optional
    ),
    ...shared
  },
  ({ key, quorum, bootstrap, json, timeout }) =>
    reported(
      json,
      withClientNode("get", bootstrap, timeout, (node) =>
        Effect.gen(function* () {
          const dhtKey = dhtKeyFor(key, node.validator.namespaces())
          const bytes = yield* call("get", (signal) =>
            node.dht.getValue(dhtKey, { signal, quorum: quorum._tag === "Some" ? quorum.value : undefined })
          )
          if (bytes === null) return yield* new NothingFoundError({ operation: "get", subject: dhtKey })
          const shown = showValue(dhtKey, bytes)
          yield* emit(
            json,
            () => ({ ok: true, command: "get", key: dhtKey, ...shown }),
            () => shown.value
          )
        })
      )
    )
).pipe(Command.withDescription("Fetch the best value stored under a key."))

/** `kad-dht provide <cid>`: announces the temporary node as a provider of a CID. */
export const provideCommand = Command.make("provide", { cid: cidArg, ...shared }, ({ cid, bootstrap, json, timeout }) =>
  reported(
    json,
    withClientNode("provide", bootstrap, timeout, (node) =>
      Effect.gen(function* () {
        yield* call("provide", (signal) => node.dht.provide(cid, true, { signal }))
        const provider = node.host.peerId.toString()
        yield* emit(
          json,
          () => ({ ok: true, command: "provide", cid: cid.toString(), provider }),
          () => `announced ${provider} as a provider of ${cid.toString()}`
        )
      })
    )
  )
).pipe(
  Command.withDescription(
    "Announce a provider record for a CID (the provider is this command's temporary node, whose peer ID is printed)."
  )
)

/** `kad-dht find-providers <cid>`: lists providers of a CID. */
export const findProvidersCommand = Command.make(
  "find-providers",
  {
    cid: cidArg,
    count: Options.integer("count").pipe(
      Options.withAlias("n"),
      Options.withDescription("Stop after this many providers (0: all the lookup finds)."),
      Options.withDefault(20)
    ),
    ...shared
  },
  ({ cid, count, bootstrap, json, timeout }) =>
    reported(
      json,
      withClientNode("find-providers", bootstrap, timeout, (node) =>
        Effect.gen(function* () {
          const providers = yield* call("find-providers", async (signal) => {
            const found: Array<PrintedPeer> = []
            for await (const peer of node.dht.findProvidersAsync(cid, Math.max(0, count), { signal })) {
              found.push(printedPeer(peer))
              if (count > 0 && found.length >= count) break
            }
            return found
          })
          if (providers.length === 0) {
            return yield* new NothingFoundError({ operation: "find-providers", subject: cid.toString() })
          }
          yield* emit(
            json,
            () => ({ ok: true, command: "find-providers", cid: cid.toString(), providers }),
            () => peerLines(providers)
          )
        })
      )
    )
).pipe(Command.withDescription("List the peers that provide a CID."))

const peerIdArg = Args.text({ name: "peer-id" }).pipe(
  Args.withDescription("A peer ID, such as 12D3KooW…"),
  Args.mapEffect((text) =>
    Effect.try({
      try: (): PeerId => peerIdFromString(text),
      catch: () => HelpDoc.p(`${text} is not a peer ID`)
    })
  )
)

/** `kad-dht find-peer <peer-id>`: a peer's addresses. */
export const findPeerCommand = Command.make(
  "find-peer",
  { peer: peerIdArg, ...shared },
  ({ peer, bootstrap, json, timeout }) =>
    reported(
      json,
      withClientNode("find-peer", bootstrap, timeout, (node) =>
        Effect.gen(function* () {
          const found = yield* call("find-peer", (signal) => node.dht.findPeer(peer, { signal }))
          if (found === null) return yield* new NothingFoundError({ operation: "find-peer", subject: peer.toString() })
          const printed = printedPeer(found)
          yield* emit(
            json,
            () => ({ ok: true, command: "find-peer", peer: printed }),
            () => peerLines([printed])
          )
        })
      )
    )
).pipe(Command.withDescription("Find a peer's addresses."))

/**
 * The lookup key `closest` uses for its argument: a peer ID's multihash, a
 * CID's multihash (the key provider records live under), or else the
 * UTF-8 bytes of the text (the key a value lives under).
 */
export const closestKey = (
  text: string
): { readonly key: PeerId | Uint8Array; readonly kind: "peer" | "cid" | "text" } => {
  try {
    return { key: peerIdFromString(text), kind: "peer" }
  } catch {
    // not a peer ID
  }
  try {
    return { key: CID.parse(text).multihash.bytes, kind: "cid" }
  } catch {
    return { key: encoder.encode(text), kind: "text" }
  }
}

/** `kad-dht closest <key>`: the k peers closest to a key. */
export const closestCommand = Command.make(
  "closest",
  {
    key: Args.text({ name: "key" }).pipe(
      Args.withDescription("A peer ID, a CID, or any text such as /cli/greeting (used as the raw key).")
    ),
    ...shared
  },
  ({ key, bootstrap, json, timeout }) =>
    reported(
      json,
      withClientNode("closest", bootstrap, timeout, (node) =>
        Effect.gen(function* () {
          const target = closestKey(key)
          const peers = (yield* call("closest", (signal) => node.dht.getClosestPeers(target.key, { signal }))).map(
            printedPeer
          )
          if (peers.length === 0) return yield* new NothingFoundError({ operation: "closest", subject: key })
          yield* emit(
            json,
            () => ({ ok: true, command: "closest", key, keyKind: target.kind, peers }),
            () => peerLines(peers)
          )
        })
      )
    )
).pipe(Command.withDescription("List the peers closest to a key, as a lookup finds them."))
