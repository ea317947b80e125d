import { describe, expect, it } from "@effect/vitest"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Either, FastCheck as fc } from "effect"
import { DecodeError } from "../src/errors.js"
import {
  ConnectionType,
  DECODE_LIMITS,
  decodeMessage,
  encodeMessage,
  type Message,
  MessageType
} from "../src/wire/codec.js"
import { peerInfoFromWire, peerInfoToWire } from "../src/wire/peer.js"

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => b as Uint8Array<ArrayBuffer>)

const messageTypes = [
  MessageType.PUT_VALUE,
  MessageType.GET_VALUE,
  MessageType.ADD_PROVIDER,
  MessageType.GET_PROVIDERS,
  MessageType.FIND_NODE,
  MessageType.PING
] as const

const connectionTypes = [
  ConnectionType.NOT_CONNECTED,
  ConnectionType.CONNECTED,
  ConnectionType.CAN_CONNECT,
  ConnectionType.CANNOT_CONNECT
] as const

const wirePeer: fc.Arbitrary<Message.Peer> = fc.record(
  {
    id: bytes(40),
    addrs: fc.array(bytes(30), { maxLength: 5 }),
    connection: fc.constantFrom(...connectionTypes)
  },
  { requiredKeys: ["addrs"] }
)

const wireRecord = fc.record(
  {
    key: bytes(60),
    value: bytes(200),
    timeReceived: fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
        .map((d) => d.toISOString())
    )
  },
  { requiredKeys: [] }
)

// Every optional field may be absent; the decoder must hand back exactly the fields that were sent.
const anyMessage: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.constantFrom(...messageTypes),
    clusterLevelRaw: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    key: bytes(80),
    record: wireRecord,
    closerPeers: fc.array(wirePeer, { maxLength: 6 }),
    providerPeers: fc.array(wirePeer, { maxLength: 6 })
  },
  { requiredKeys: ["type", "closerPeers", "providerPeers"] }
)

const decodeOrThrow = (bytes: Uint8Array): Message =>
  Either.getOrThrowWith(decodeMessage(bytes), (error) => new Error(`unexpected ${error.message}`))

describe("wire codec round trip", () => {
  it.prop("decode(encode(m)) = m for arbitrary messages of all six types", [anyMessage], ([message]) => {
    expect(decodeOrThrow(encodeMessage(message))).toEqual(message)
  })

  it.prop("encoding is deterministic and stable under a second round trip", [anyMessage], ([message]) => {
    const first = encodeMessage(message)
    expect(encodeMessage(decodeOrThrow(first))).toEqual(first)
  })

  it("covers every type, connection type and negative cluster levels", () => {
    for (const type of messageTypes) {
      for (const connection of connectionTypes) {
        const message: Message = {
          type,
          clusterLevelRaw: -7,
          key: Uint8Array.of(1, 2, 3),
          record: { key: Uint8Array.of(9), value: Uint8Array.of(), timeReceived: "2024-01-02T03:04:05.000000000Z" },
          closerPeers: [{ id: Uint8Array.of(0, 1), addrs: [Uint8Array.of(4, 127, 0, 0, 1)], connection }],
          providerPeers: [{ id: Uint8Array.of(0, 2), addrs: [], connection }]
        }
        expect(decodeOrThrow(encodeMessage(message))).toEqual(message)
      }
    }
  })
})

describe("message type on the wire", () => {
  it("leaves PUT_VALUE (the proto3 default) off the wire, as go and js do", () => {
    const encoded = encodeMessage({ type: MessageType.PUT_VALUE, key: Uint8Array.of(7) })
    expect(Array.from(encoded)).toEqual([0x12, 0x01, 0x07])
    expect(Array.from(encodeMessage({ type: MessageType.GET_VALUE, key: Uint8Array.of(7) }))).toEqual([
      0x08, 0x01, 0x12, 0x01, 0x07
    ])
  })

  it("reads an absent type as PUT_VALUE and accepts an explicit 0 too", () => {
    const absent = decodeOrThrow(Uint8Array.of(0x12, 0x01, 0x07))
    const explicit = decodeOrThrow(Uint8Array.of(0x08, 0x00, 0x12, 0x01, 0x07))
    expect(absent.type).toBe(MessageType.PUT_VALUE)
    expect(explicit).toEqual(absent)
    expect(decodeOrThrow(new Uint8Array(0))).toEqual({
      type: MessageType.PUT_VALUE,
      closerPeers: [],
      providerPeers: []
    })
  })

  it("refuses a type outside the enum", () => {
    const result = decodeMessage(Uint8Array.of(0x08, 0x09))
    expect(Either.isLeft(result)).toBe(true)
  })
})

describe("decoding hostile bytes", () => {
  const checkTotal = (input: Uint8Array) => {
    let result: Either.Either<Message, DecodeError> | undefined
    expect(() => {
      result = decodeMessage(input)
    }).not.toThrow()
    if (result === undefined) throw new Error("no result")
    Either.match(result, {
      onLeft: (error) => expect(error).toBeInstanceOf(DecodeError),
      // whatever decodes must survive its own round trip
      onRight: (message) => expect(decodeOrThrow(encodeMessage(message))).toEqual(message)
    })
  }

  it.prop("never throws on arbitrary bytes", [fc.uint8Array({ maxLength: 512 })], ([input]) => checkTotal(input), {
    fastCheck: { numRuns: 2000 }
  })

  it.prop(
    "never throws on corrupted or truncated encodings",
    [anyMessage, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()],
    ([message, position, value, cut]) => {
      const encoded = encodeMessage(message)
      if (encoded.byteLength === 0) return
      const corrupted = Uint8Array.from(encoded)
      corrupted[position % corrupted.byteLength] = value
      checkTotal(corrupted)
      checkTotal(encoded.subarray(0, cut % encoded.byteLength))
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it("reports truncation as a DecodeError", () => {
    const encoded = encodeMessage({ type: MessageType.FIND_NODE, key: new Uint8Array(32).fill(1) })
    const result = decodeMessage(encoded.subarray(0, encoded.byteLength - 3))
    expect(Either.isLeft(result) && result.left._tag === "DecodeError").toBe(true)
  })
})

describe("decode limits", () => {
  const peer = { id: Uint8Array.of(0, 4, 1, 2, 3, 4), addrs: [Uint8Array.of(4, 10, 0, 0, 1, 6, 0x0f, 0xa1)] }
  const peers = (n: number) => Array.from({ length: n }, () => peer)

  const expectDecodeError = (result: Either.Either<Message, DecodeError>, mentions: string) => {
    if (Either.isRight(result)) throw new Error("expected a DecodeError")
    expect(result.left).toBeInstanceOf(DecodeError)
    expect(result.left.reason).toContain(mentions)
  }

  it("accepts exactly DECODE_LIMITS.closerPeers closer peers and refuses one more", () => {
    const atLimit = encodeMessage({ type: MessageType.FIND_NODE, closerPeers: peers(DECODE_LIMITS.closerPeers) })
    expect(decodeOrThrow(atLimit).closerPeers).toHaveLength(DECODE_LIMITS.closerPeers)
    const over = encodeMessage({ type: MessageType.FIND_NODE, closerPeers: peers(DECODE_LIMITS.closerPeers + 1) })
    expectDecodeError(decodeMessage(over), "closerPeers")
  })

  it("refuses more than DECODE_LIMITS.providerPeers provider peers", () => {
    const atLimit = encodeMessage({
      type: MessageType.GET_PROVIDERS,
      providerPeers: peers(DECODE_LIMITS.providerPeers)
    })
    expect(decodeOrThrow(atLimit).providerPeers).toHaveLength(DECODE_LIMITS.providerPeers)
    const over = encodeMessage({
      type: MessageType.GET_PROVIDERS,
      providerPeers: peers(DECODE_LIMITS.providerPeers + 1)
    })
    expectDecodeError(decodeMessage(over), "providerPeers")
  })

  it("refuses a peer with more than DECODE_LIMITS.addrs addresses, in either list", () => {
    const addrs = (n: number) => Array.from({ length: n }, (_, i) => Uint8Array.of(4, 10, 0, 0, i & 0xff))
    const ok = encodeMessage({ type: MessageType.FIND_NODE, closerPeers: [{ addrs: addrs(DECODE_LIMITS.addrs) }] })
    expect(decodeOrThrow(ok).closerPeers[0].addrs).toHaveLength(DECODE_LIMITS.addrs)
    const many = [{ addrs: addrs(DECODE_LIMITS.addrs + 1) }]
    expectDecodeError(decodeMessage(encodeMessage({ type: MessageType.FIND_NODE, closerPeers: many })), "addrs")
    expectDecodeError(decodeMessage(encodeMessage({ type: MessageType.GET_PROVIDERS, providerPeers: many })), "addrs")
  })
})

describe("peer wire form", () => {
  it("round-trips a PeerInfo with its addresses and connection type", async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
    const multiaddrs = [multiaddr("/ip4/192.0.2.1/tcp/4001"), multiaddr("/ip6/::1/udp/4001/quic-v1")]
    const wire = peerInfoToWire({ id, multiaddrs }, ConnectionType.CONNECTED)
    expect(wire.connection).toBe(ConnectionType.CONNECTED)
    expect(peerInfoToWire({ id, multiaddrs }).connection).toBe(ConnectionType.NOT_CONNECTED)

    const decoded = decodeOrThrow(encodeMessage({ type: MessageType.FIND_NODE, closerPeers: [wire] }))
    const back = peerInfoFromWire(decoded.closerPeers[0])
    expect(back?.id.equals(id)).toBe(true)
    expect(back?.multiaddrs.map((ma) => ma.toString())).toEqual(multiaddrs.map((ma) => ma.toString()))
  })

  it("skips addresses it cannot parse and refuses peers without a valid ID", async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
    const good = multiaddr("/ip4/192.0.2.1/tcp/4001")
    const wire: Message.Peer = {
      id: id.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      addrs: [Uint8Array.of(0xff, 0xff, 0x03, 1, 2), good.bytes as Uint8Array<ArrayBuffer>]
    }
    expect(peerInfoFromWire(wire)?.multiaddrs.map((ma) => ma.toString())).toEqual([good.toString()])
    expect(peerInfoFromWire({ addrs: [] })).toBeUndefined()
    expect(peerInfoFromWire({ id: new Uint8Array(0), addrs: [] })).toBeUndefined()
    expect(peerInfoFromWire({ id: Uint8Array.of(0x12, 0x20, 1), addrs: [] })).toBeUndefined()
  })
})

describe("strings on the wire", () => {
  it("refuses a timeReceived that is not valid UTF-8 instead of inventing characters", () => {
    // Record { timeReceived: 0xed 0xb0 0x80 } (a lone surrogate in CESU form) inside a PUT_VALUE
    const record = Uint8Array.of(0x2a, 0x03, 0xed, 0xb0, 0x80)
    const message = Uint8Array.of(0x1a, record.byteLength, ...record)
    const result = decodeMessage(message)
    expect(Either.isLeft(result)).toBe(true)
  })
})
