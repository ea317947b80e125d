/**
 * Fixed wire vectors for /ipfs/kad/1.0.0 messages, checked three ways: our
 * encoder writes exactly these bytes, @libp2p/kad-dht 16.4.5's own protobuf
 * codec writes exactly the same bytes for the same messages, and each side
 * decodes the other's output.
 *
 * Default values: kad-dht's dht.proto declares `MessageType type = 1` without
 * `optional`, so protons leaves PUT_VALUE (0) off the wire, as go's proto3
 * code does too. Our message.proto marks `type` optional (to keep presence),
 * so the generated codec alone would write `08 00`; `encodeMessage` drops it
 * so PUT_VALUE bytes match go and js exactly. Both forms decode to PUT_VALUE
 * on every side (checked below). Other optional fields (`connection`,
 * `clusterLevelRaw`) are written whenever present by us and by js; go omits
 * them when zero and writes `clusterLevelRaw` (field 10) last rather than
 * second. Field order and written zeros do not matter to any decoder.
 */
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { peerIdFromMultihash } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Either } from "effect"
import * as Digest from "multiformats/hashes/digest"
import { makeRecord, recordToWire } from "../src/record/record.js"
import { ConnectionType, decodeMessage, encodeMessage, Message, MessageType } from "../src/wire/codec.js"
import { peerInfoFromWire } from "../src/wire/peer.js"

// --- the shape of kad-dht's internal codec (dist/src/message/dht.js), loaded by file URL below

interface KadPeerInfo {
  id?: Uint8Array
  multiaddrs: Array<Uint8Array>
  connection?: string
}

interface KadMessage {
  type?: string
  clusterLevel?: number
  key?: Uint8Array
  record?: Uint8Array
  closer: Array<KadPeerInfo>
  providers: Array<KadPeerInfo>
}

interface KadRecord {
  key?: Uint8Array
  value?: Uint8Array
  timeReceived?: string
}

interface KadDhtWire {
  readonly Message: {
    encode(message: Partial<KadMessage>): Uint8Array
    decode(bytes: Uint8Array): KadMessage
  }
  readonly Record: {
    encode(record: KadRecord): Uint8Array
    decode(bytes: Uint8Array): KadRecord
  }
}

interface Libp2pRecordModule {
  readonly Libp2pRecord: new (
    key: Uint8Array,
    value: Uint8Array,
    timeReceived: Date
  ) => {
    serialize(): Uint8Array
  }
}

// The package's `exports` map only exposes its entry point, so the message codec is imported by absolute file URL.
const kadDhtEntry = createRequire(import.meta.url).resolve("@libp2p/kad-dht")
const kad: KadDhtWire = await import(pathToFileURL(kadDhtEntry.replace(/index\.js$/, "message/dht.js")).href)
// the record serialiser kad-dht itself uses, resolved from kad-dht's own dependencies
const { Libp2pRecord }: Libp2pRecordModule = await import(
  pathToFileURL(createRequire(kadDhtEntry).resolve("@libp2p/record")).href
)

// --- fixture values

const hex = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)

// Ed25519 peer IDs (identity multihashes: 00 24 | 08 01 12 20 <public key>), from seeds 0x01.., 0x02.., 0x03..
const PEER_A = hex("002408011220 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
const PEER_B = hex("002408011220 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")
const PEER_C = hex("002408011220 ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1")

// multiaddr bytes: 04 <ipv4> 06 <tcp port>
const ADDR_1 = hex("04 c0000201 06 0fa1") // /ip4/192.0.2.1/tcp/4001
const ADDR_2 = hex("04 c6336407 06 0fa2") // /ip4/198.51.100.7/tcp/4002
const ADDR_3 = hex("04 cb007109 06 0fa3") // /ip4/203.0.113.9/tcp/4003

// sha256 multihash of "hello": what a CID's provider key is
const CID_KEY = hex("1220 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")

const VALUE_KEY = utf8("/v/hello")
const VALUE = utf8("world")
const RECEIVED = new Date("2024-05-01T12:34:56.789Z")

interface Vector {
  readonly name: string
  readonly ours: Message
  readonly theirs: () => Partial<KadMessage>
  readonly bytes: string
}

// Each `bytes` is written field by field: tag, length, value.
const vectors: ReadonlyArray<Vector> = [
  {
    name: "FIND_NODE request",
    ours: { type: MessageType.FIND_NODE, key: PEER_C, closerPeers: [], providerPeers: [] },
    theirs: () => ({ type: "FIND_NODE", key: PEER_C }),
    bytes: `
      08 04
      12 26 ${toHex(PEER_C)}`
  },
  {
    name: "FIND_NODE response with two closer peers",
    ours: {
      type: MessageType.FIND_NODE,
      closerPeers: [
        { id: PEER_A, addrs: [ADDR_1] },
        { id: PEER_B, addrs: [ADDR_2, ADDR_3], connection: ConnectionType.CONNECTED }
      ],
      providerPeers: []
    },
    theirs: () => ({
      type: "FIND_NODE",
      closer: [
        { id: PEER_A, multiaddrs: [ADDR_1] },
        { id: PEER_B, multiaddrs: [ADDR_2, ADDR_3], connection: "CONNECTED" }
      ]
    }),
    bytes: `
      08 04
      42 32 0a 26 ${toHex(PEER_A)} 12 08 ${toHex(ADDR_1)}
      42 3e 0a 26 ${toHex(PEER_B)} 12 08 ${toHex(ADDR_2)} 12 08 ${toHex(ADDR_3)} 18 01`
  },
  {
    name: "PUT_VALUE with a record and its timeReceived",
    ours: {
      type: MessageType.PUT_VALUE,
      key: VALUE_KEY,
      record: recordToWire(makeRecord(VALUE_KEY, VALUE, RECEIVED)),
      closerPeers: [],
      providerPeers: []
    },
    // kad-dht carries the record as bytes: serialised the way kad-dht serialises its own records
    theirs: () => ({
      type: "PUT_VALUE",
      key: VALUE_KEY,
      record: new Libp2pRecord(VALUE_KEY, VALUE, RECEIVED).serialize()
    }),
    bytes: `
      12 08 ${toHex(VALUE_KEY)}
      1a 31
        0a 08 ${toHex(VALUE_KEY)}
        12 05 ${toHex(VALUE)}
        2a 1e ${toHex(utf8("2024-05-01T12:34:56.789000000Z"))}`
  },
  {
    name: "GET_PROVIDERS response with provider and closer peers",
    ours: {
      type: MessageType.GET_PROVIDERS,
      key: CID_KEY,
      closerPeers: [{ id: PEER_C, addrs: [ADDR_3] }],
      providerPeers: [{ id: PEER_A, addrs: [ADDR_1] }]
    },
    theirs: () => ({
      type: "GET_PROVIDERS",
      key: CID_KEY,
      closer: [{ id: PEER_C, multiaddrs: [ADDR_3] }],
      providers: [{ id: PEER_A, multiaddrs: [ADDR_1] }]
    }),
    bytes: `
      08 03
      12 22 ${toHex(CID_KEY)}
      42 32 0a 26 ${toHex(PEER_C)} 12 08 ${toHex(ADDR_3)}
      4a 32 0a 26 ${toHex(PEER_A)} 12 08 ${toHex(ADDR_1)}`
  },
  {
    name: "ADD_PROVIDER",
    ours: {
      type: MessageType.ADD_PROVIDER,
      key: CID_KEY,
      closerPeers: [],
      providerPeers: [{ id: PEER_A, addrs: [ADDR_1, ADDR_2] }]
    },
    theirs: () => ({
      type: "ADD_PROVIDER",
      key: CID_KEY,
      providers: [{ id: PEER_A, multiaddrs: [ADDR_1, ADDR_2] }]
    }),
    bytes: `
      08 02
      12 22 ${toHex(CID_KEY)}
      4a 3c 0a 26 ${toHex(PEER_A)} 12 08 ${toHex(ADDR_1)} 12 08 ${toHex(ADDR_2)}`
  },
  {
    name: "PING",
    ours: { type: MessageType.PING, closerPeers: [], providerPeers: [] },
    theirs: () => ({ type: "PING" }),
    bytes: "08 05"
  }
]

describe("fixture sanity", () => {
  it("uses real peer IDs, multiaddrs and a CID multihash", () => {
    for (const id of [PEER_A, PEER_B, PEER_C]) {
      expect(peerIdFromMultihash(Digest.decode(id)).type).toBe("Ed25519")
    }
    expect(multiaddr(ADDR_1).toString()).toBe("/ip4/192.0.2.1/tcp/4001")
    expect(multiaddr(ADDR_2).toString()).toBe("/ip4/198.51.100.7/tcp/4002")
    expect(multiaddr(ADDR_3).toString()).toBe("/ip4/203.0.113.9/tcp/4003")
    expect(Digest.decode(CID_KEY).code).toBe(0x12)
  })
})

describe.each(vectors)("$name", (vector) => {
  const expected = hex(vector.bytes)

  it("our encoder writes exactly the vector", () => {
    expect(toHex(encodeMessage(vector.ours))).toBe(toHex(expected))
  })

  it("@libp2p/kad-dht's encoder writes exactly the vector", () => {
    expect(toHex(kad.Message.encode(vector.theirs()))).toBe(toHex(expected))
  })

  it("our decoder reads kad-dht's bytes back into the message", () => {
    const decoded = decodeMessage(kad.Message.encode(vector.theirs()))
    expect(Either.getOrThrow(decoded)).toEqual(vector.ours)
  })

  it("kad-dht's decoder reads our bytes back into its message", () => {
    const theirs = kad.Message.decode(encodeMessage(vector.ours))
    expect(theirs).toEqual({ closer: [], providers: [], ...vector.theirs() })
  })
})

describe("record and peer interop", () => {
  it("our record wire form is byte-identical to kad-dht's Libp2pRecord serialisation", () => {
    const theirs = new Libp2pRecord(VALUE_KEY, VALUE, RECEIVED).serialize()
    const decoded = kad.Record.decode(theirs)
    expect(decoded.timeReceived).toBe("2024-05-01T12:34:56.789000000Z")
    expect(toHex(kad.Record.encode(recordToWire(makeRecord(VALUE_KEY, VALUE, RECEIVED))))).toBe(toHex(theirs))
  })

  it("decoded closer peers become PeerInfos with their addresses", () => {
    const response = Either.getOrThrow(decodeMessage(hex(vectors[1].bytes)))
    const peers = response.closerPeers.map(peerInfoFromWire)
    expect(peers.map((p) => p?.id.toString())).toEqual([
      "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5",
      "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"
    ])
    expect(peers[1]?.multiaddrs.map(String)).toEqual(["/ip4/198.51.100.7/tcp/4002", "/ip4/203.0.113.9/tcp/4003"])
  })
})

describe("PUT_VALUE's default type on the wire", () => {
  const body = `12 08 ${toHex(VALUE_KEY)}`

  it("the generated codec alone would write type 0; encodeMessage leaves it off like go and js", () => {
    const message = { type: MessageType.PUT_VALUE, key: VALUE_KEY, closerPeers: [], providerPeers: [] }
    expect(toHex(Message.encode(message))).toBe(toHex(hex(`08 00 ${body}`)))
    expect(toHex(encodeMessage(message))).toBe(toHex(hex(body)))
  })

  it("both decoders read an absent and an explicit 0 type as PUT_VALUE", () => {
    for (const form of [body, `08 00 ${body}`]) {
      expect(Either.getOrThrow(decodeMessage(hex(form))).type).toBe(MessageType.PUT_VALUE)
      expect(kad.Message.decode(hex(form)).type).toBe("PUT_VALUE")
    }
  })
})
