/**
 * Hostile inputs for the reliability suite: arbitrary DHT messages (valid
 * and nonsensical fields alike), byte-level mutations of their encodings,
 * and the invariants the decoder must keep on whatever it is fed.
 *
 * Shared by the fast tests in `test/reliability` and the long runs in
 * `test/soak`, which only differ in how many inputs they try.
 */
import { DECODE_LIMITS, decodeMessage, encodeMessage, type Message, MessageType } from "@effect-kad/core"
import type { PeerId } from "@libp2p/interface"
import { multiaddr } from "@multiformats/multiaddr"
import fc from "fast-check"
import { varint } from "../../support/varint.js"

const encoder = new TextEncoder()

/** A sha256 multihash (`0x12 0x20` + 32 bytes): the key shape of every CID-based DHT key. */
export const multihashKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((digest) => {
  const key = new Uint8Array(34)
  key[0] = 0x12
  key[1] = 0x20
  key.set(digest, 2)
  return key
})

/**
 * Keys as a hostile peer would send them: empty, random, huge, CID
 * multihashes, record keys of known and unknown namespaces, peer-ID keys.
 */
export const keyArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.uint8Array({ maxLength: 100 }),
    fc.uint8Array({ minLength: 200, maxLength: 5000 }),
    multihashKey,
    fc.constantFrom(...peers).map((p) => p.toMultihash().bytes),
    fc.constantFrom(...peers).map((p) => concat(encoder.encode("/pk/"), p.toMultihash().bytes)),
    fc.constantFrom(...peers).map((p) => concat(encoder.encode("/ipns/"), p.toMultihash().bytes)),
    fc.string({ maxLength: 40 }).map((s) => encoder.encode(`/v/${s}`)),
    fc.string({ maxLength: 40 }).map((s) => encoder.encode(`/${s}`))
  )

/** Peer IDs on the wire: real ones, and bytes that only look like multihashes. */
const peerIdBytesArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...peers).map((p) => p.toMultihash().bytes) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }) },
    { weight: 1, arbitrary: multihashKey },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) }
  )

/** Multiaddr bytes: valid loopback and public TCP addresses, and garbage. */
const addrArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 }))
    .map(([a, b, port]) => multiaddr(`/ip4/${a}.${b}.7.9/tcp/${port}`).bytes),
  fc.constant(multiaddr("/ip4/127.0.0.1/tcp/4001").bytes),
  fc.constant(multiaddr("/ip6/::1/udp/4001/quic-v1").bytes),
  fc.uint8Array({ maxLength: 40 })
)

/** A wire peer, sometimes with nothing in it, sometimes with too many addresses. */
export const wirePeerArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Message.Peer> =>
  fc.record(
    {
      id: peerIdBytesArb(peers),
      addrs: fc.oneof(
        { weight: 5, arbitrary: fc.array(addrArb, { maxLength: 4 }) },
        { weight: 1, arbitrary: fc.array(addrArb, { minLength: 60, maxLength: 80 }) }
      ),
      connection: fc.constantFrom(0, 1, 2, 3)
    },
    { requiredKeys: ["addrs"] }
  ) as fc.Arbitrary<Message.Peer>

/** The six message types of the protocol. */
export const MESSAGE_TYPES: ReadonlyArray<MessageType> = [
  MessageType.PUT_VALUE,
  MessageType.GET_VALUE,
  MessageType.ADD_PROVIDER,
  MessageType.GET_PROVIDERS,
  MessageType.FIND_NODE,
  MessageType.PING
]

const rfc3339Arb = fc.oneof(
  fc.date({ min: new Date(0), max: new Date(4_102_444_800_000), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.string({ maxLength: 40 }),
  fc.constant("9999-99-99T99:99:99Z")
)

/** A wire record whose key, value and receive time may each be missing, wrong or fine. */
export const wireRecordArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Message["record"]> =>
  fc.record(
    {
      key: keyArb(peers),
      value: fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ minLength: 1000, maxLength: 20_000 }),
        fc.nat(1000).map((n) => encoder.encode(`${n}:value`))
      ),
      timeReceived: rfc3339Arb
    },
    { requiredKeys: [] }
  ) as fc.Arbitrary<Message["record"]>

/**
 * A whole message as the encoder accepts it: every type (known or not),
 * any key, record and peer lists up to a little past the decode limits'
 * scale, so both acceptable and abusive shapes come up.
 */
export const messageArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Message> =>
  fc
    .record(
      {
        // unknown type numbers cannot be encoded; the byte mutations below put them on the wire
        type: fc.constantFrom(...MESSAGE_TYPES),
        clusterLevelRaw: fc.integer({ min: -5, max: 5 }),
        key: keyArb(peers),
        record: wireRecordArb(peers),
        closerPeers: fc.array(wirePeerArb(peers), { maxLength: 25 }),
        providerPeers: fc.array(wirePeerArb(peers), { maxLength: 25 })
      },
      { requiredKeys: ["type", "closerPeers", "providerPeers"] }
    )
    .map((m) => m as unknown as Message)

/** One byte-level mutation; positions are fractions of the current length so they fit any input. */
export type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "set"; readonly at: number; readonly value: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "delete"; readonly at: number; readonly length: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "duplicate"; readonly at: number; readonly length: number }
  | { readonly op: "varint"; readonly at: number; readonly value: number }

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true })

/** Mutations as a fuzzer applies them: flips, overwrites, inserts, deletes, truncations, and forged lengths. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fraction, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fraction, value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fraction,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 })
  }),
  fc.record({ op: fc.constant("delete" as const), at: fraction, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fraction }),
  fc.record({ op: fc.constant("duplicate" as const), at: fraction, length: fc.integer({ min: 1, max: 64 }) }),
  // an overwritten length prefix: the classic way to make a decoder allocate what the input never carried
  fc.record({
    op: fc.constant("varint" as const),
    at: fraction,
    value: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(2 ** 21, 2 ** 28 - 1, 2 ** 31 - 1, 2 ** 32 + 5))
  })
)

/** Applies mutations in order; never throws. */
export const mutate = (input: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let bytes = input
  for (const m of mutations) {
    const at = Math.floor(m.at * bytes.byteLength)
    switch (m.op) {
      case "flip":
        if (bytes.byteLength > 0) {
          bytes = bytes.slice()
          bytes[at] ^= 1 << m.bit
        }
        break
      case "set":
        if (bytes.byteLength > 0) {
          bytes = bytes.slice()
          bytes[at] = m.value
        }
        break
      case "insert":
        bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at))
        break
      case "delete":
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.length))
        break
      case "truncate":
        bytes = bytes.slice(0, at)
        break
      case "duplicate":
        bytes = concat(bytes.subarray(0, at + m.length), bytes.subarray(at))
        break
      case "varint":
        bytes = concat(bytes.subarray(0, at), varint(m.value), bytes.subarray(at + 1))
        break
    }
  }
  return bytes
}

/** Concatenates byte arrays. */
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of parts) length += p.byteLength
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/** Bytes a decoder was fed: random, or an encoded message mutated a few times. */
export const hostileBytesArb = (peers: ReadonlyArray<PeerId>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(messageArb(peers), fc.array(mutationArb, { minLength: 1, maxLength: 6 }))
        .map(([message, mutations]) => mutate(encodeMessage(message), mutations))
    },
    {
      weight: 1,
      arbitrary: fc.tuple(messageArb(peers), messageArb(peers), fraction).map(([a, b, cut]) => {
        const left = encodeMessage(a)
        const right = encodeMessage(b)
        return concat(left.subarray(0, Math.floor(cut * left.byteLength)), right)
      })
    }
  )

/** Sum of the bytes a decoded message holds in its byte fields: what decoding allocated for payload. */
export const payloadBytes = (message: Message): number => {
  let total = (message.key?.byteLength ?? 0) + (message.record?.key?.byteLength ?? 0)
  total += (message.record?.value?.byteLength ?? 0) + (message.record?.timeReceived?.length ?? 0)
  for (const peer of [...message.closerPeers, ...message.providerPeers]) {
    total += peer.id?.byteLength ?? 0
    for (const addr of peer.addrs) total += addr.byteLength
  }
  return total
}

/**
 * Decodes `bytes` and checks what the decoder promises for any input: it
 * returns (never throws), and what it returns is bounded by the input and
 * the decode limits. Returns the decoded message, or undefined when it was
 * refused.
 */
export const decodeChecked = (bytes: Uint8Array): Message | undefined => {
  const result = decodeMessage(bytes)
  if (result._tag === "Left") {
    if (result.left._tag !== "DecodeError") throw new Error(`unexpected error ${String(result.left)}`)
    return undefined
  }
  const message = result.right
  if (message.closerPeers.length > DECODE_LIMITS.closerPeers) throw new Error("closerPeers over the limit")
  if (message.providerPeers.length > DECODE_LIMITS.providerPeers) throw new Error("providerPeers over the limit")
  for (const peer of [...message.closerPeers, ...message.providerPeers]) {
    if (peer.addrs.length > DECODE_LIMITS.addrs) throw new Error("addrs over the limit")
  }
  // every byte of payload comes from the input: nothing is conjured from a forged length
  if (payloadBytes(message) > bytes.byteLength) {
    throw new Error(`decoded ${payloadBytes(message)} payload bytes from a ${bytes.byteLength}-byte input`)
  }
  return message
}

/** A small set of record keys in the test namespace, so that puts collide and compete. */
export const testValueKeys: ReadonlyArray<Uint8Array> = Array.from({ length: 8 }, (_, i) => encoder.encode(`/v/k${i}`))

/** A small set of CID multihash keys, so that provider announcements pile up on the same keys. */
export const testProviderKeys: ReadonlyArray<Uint8Array> = Array.from({ length: 8 }, (_, i) => {
  const key = new Uint8Array(34)
  key[0] = 0x12
  key[1] = 0x20
  key.fill(i + 1, 2)
  return key
})

/**
 * Requests that decode fine and go deep into the handlers: puts of valid
 * and invalid records (wrong key, bad value, odd receive times) on a few
 * contested keys, provider announcements naming the sender or spoofing
 * others, with and without addresses, and the matching gets. The sender is
 * chosen with the message, since whether an announcement is spoofed
 * depends on who sends it.
 */
export const plausibleRequestArb = (
  senders: ReadonlyArray<PeerId>,
  pool: ReadonlyArray<PeerId>
): fc.Arbitrary<{ readonly sender: number; readonly message: Message }> =>
  fc.nat(senders.length - 1).chain((sender) => {
    const valueKey = fc.constantFrom(...testValueKeys)
    const providerKey = fc.constantFrom(...testProviderKeys)
    const put = fc
      .record({
        key: valueKey,
        recordKey: fc.option(valueKey, { nil: undefined }),
        value: fc.oneof(
          fc.nat(50).map((n) => encoder.encode(`${n}:value`)),
          fc.uint8Array({ maxLength: 20 }),
          fc.string({ maxLength: 10 }).map((s) => encoder.encode(s))
        ),
        timeReceived: fc.option(rfc3339Arb, { nil: undefined })
      })
      .map(
        ({ key, recordKey, value, timeReceived }): Message => ({
          type: MessageType.PUT_VALUE,
          key: key as Uint8Array<ArrayBuffer>,
          record: {
            key: (recordKey ?? key) as Uint8Array<ArrayBuffer>,
            value: value as Uint8Array<ArrayBuffer>,
            timeReceived
          },
          closerPeers: [],
          providerPeers: []
        })
      )
    const self = senders[sender].toMultihash().bytes as Uint8Array<ArrayBuffer>
    const addProvider = fc
      .record({
        key: providerKey,
        announceSelf: fc.boolean(),
        selfAddrs: fc.array(addrArb, { maxLength: 3 }),
        spoofed: fc.array(wirePeerArb(pool), { maxLength: 4 })
      })
      .map(
        ({ key, announceSelf, selfAddrs, spoofed }): Message => ({
          type: MessageType.ADD_PROVIDER,
          key: key as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: [
            ...spoofed,
            ...(announceSelf ? [{ id: self, addrs: selfAddrs as Array<Uint8Array<ArrayBuffer>> }] : [])
          ]
        })
      )
    const get = fc
      .tuple(
        fc.constantFrom(MessageType.GET_VALUE, MessageType.GET_PROVIDERS, MessageType.FIND_NODE),
        fc.oneof(valueKey, providerKey)
      )
      .map(
        ([type, key]): Message => ({
          type,
          key: key as Uint8Array<ArrayBuffer>,
          closerPeers: [],
          providerPeers: []
        })
      )
    return fc.oneof(put, addProvider, get).map((message) => ({ sender, message }))
  })
