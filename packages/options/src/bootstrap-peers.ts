/**
 * The public IPFS (Amino) DHT's bootstrap peers.
 *
 * @module
 */

/**
 * The bootstrap list of the public IPFS network, as kubo ships it: the
 * `bootstrap.libp2p.io` peers (resolved through `/dnsaddr` when dialed)
 * and `mars.i.ipfs.io` over TCP and QUIC. Not a default of any option:
 * joining the public network is opt-in, so a node configured without
 * bootstrap peers never dials out on its own.
 *
 * @example
 * ```ts
 * const dht = await DHT.new_(host, undefined, [mode(DHTMode.client), bootstrapPeers(defaultBootstrapPeers)])
 * ```
 */
export const defaultBootstrapPeers: ReadonlyArray<string> = Object.freeze([
  "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
  "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
  "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
  "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
  "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
  "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
  "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"
])
