import { describe, expect, it } from "@effect/vitest"
import { peerIdFromString } from "@libp2p/peer-id"
import { multiaddr } from "@multiformats/multiaddr"
import { Either } from "effect"
import { type BootstrapPeerInput, type DHTOptions, decodeBootstrapPeer, resolveOptions } from "../src/index.js"
import { PEER_IDS } from "./fixtures.js"

const [A, B, C] = PEER_IDS

const peersOf = (bootstrapPeers: ReadonlyArray<BootstrapPeerInput>) => {
  const result = resolveOptions({ bootstrapPeers })
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right.bootstrapPeers.map((p) => [p.id.toString(), p.multiaddrs.map(String)])
}

describe("bootstrap peers", () => {
  it("a multiaddr string splits into the peer ID and its transport address", () => {
    expect(peersOf([`/ip4/104.131.131.82/tcp/4001/p2p/${A}`])).toEqual([[A, ["/ip4/104.131.131.82/tcp/4001"]]])
  })

  it("a bare /p2p/<id> names the peer without addresses (they come from the peer store)", () => {
    expect(peersOf([`/p2p/${A}`])).toEqual([[A, []]])
  })

  it("Ed25519 peer IDs and DNS/QUIC addresses are read", () => {
    const id = PEER_IDS[6]
    expect(peersOf([`/dnsaddr/bootstrap.libp2p.io/p2p/${id}`, `/ip4/1.2.3.4/udp/4001/quic-v1/p2p/${id}`])).toEqual([
      [id, ["/dnsaddr/bootstrap.libp2p.io", "/ip4/1.2.3.4/udp/4001/quic-v1"]]
    ])
  })

  it("in a relay address the last /p2p/ names the peer; the relay's stays in the address", () => {
    expect(peersOf([`/ip4/1.2.3.4/tcp/4001/p2p/${A}/p2p-circuit/p2p/${B}`])).toEqual([
      [B, [`/ip4/1.2.3.4/tcp/4001/p2p/${A}/p2p-circuit`]]
    ])
  })

  it("entries for the same peer are joined, in first-seen order, without repeated addresses", () => {
    expect(
      peersOf([
        `/ip4/1.1.1.1/tcp/1/p2p/${A}`,
        `/ip4/2.2.2.2/tcp/2/p2p/${B}`,
        `/ip4/1.1.1.2/tcp/1/p2p/${A}`,
        `/ip4/1.1.1.1/tcp/1/p2p/${A}`,
        { id: B, multiaddrs: ["/ip4/2.2.2.3/tcp/2"] }
      ])
    ).toEqual([
      [A, ["/ip4/1.1.1.1/tcp/1", "/ip4/1.1.1.2/tcp/1"]],
      [B, ["/ip4/2.2.2.2/tcp/2", "/ip4/2.2.2.3/tcp/2"]]
    ])
  })

  it("a PeerInfo may be written with strings, and a matching /p2p/ suffix is dropped", () => {
    expect(peersOf([{ id: C, multiaddrs: ["/ip4/3.3.3.3/tcp/3", `/ip4/3.3.3.4/tcp/3/p2p/${C}`] }])).toEqual([
      [C, ["/ip4/3.3.3.3/tcp/3", "/ip4/3.3.3.4/tcp/3"]]
    ])
  })

  it("a core PeerInfo keeps its PeerId object", () => {
    const id = peerIdFromString(A)
    const result = resolveOptions({ bootstrapPeers: [{ id, multiaddrs: [multiaddr("/ip4/1.2.3.4/tcp/1")] }] })
    expect(Either.isRight(result) && result.right.bootstrapPeers[0].id).toBe(id)
  })

  it("the resolved list does not alias the user's array", () => {
    const input: Array<BootstrapPeerInput> = [`/p2p/${A}`]
    const options: DHTOptions = { bootstrapPeers: input }
    const result = resolveOptions(options)
    input.push(`/p2p/${B}`)
    expect(Either.isRight(result) && result.right.bootstrapPeers.map((p) => p.id.toString())).toEqual([A])
  })

  it("decodeBootstrapPeer reads one entry and explains a refusal", () => {
    const ok = decodeBootstrapPeer(`/ip4/1.2.3.4/tcp/1/p2p/${A}`)
    expect(Either.isRight(ok) && ok.right.id.toString()).toBe(A)
    const refused = decodeBootstrapPeer("/ip4/1.2.3.4/tcp/1")
    expect(Either.isLeft(refused) && refused.left).toMatch(/does not end with \/p2p\/<peer ID>/)
  })
})
