/**
 * Troubleshooting bootstrap failures: dial each bootstrap peer directly
 * and report which ones answer.
 *
 * @module
 */
import { peerIdFromString } from "@libp2p/peer-id"
import { CODE_P2P, multiaddr } from "@multiformats/multiaddr"
import type { Libp2p } from "libp2p"

/** The outcome for one bootstrap address. */
export interface BootstrapCheck {
  readonly address: string
  readonly peerId: string | undefined
  readonly connected: boolean
  readonly error: string | undefined
}

/**
 * Connects to every bootstrap address in turn (each with its own
 * deadline) and reports the result; never throws.
 */
export const checkBootstrapConnectivity = async (
  host: Libp2p,
  addresses: ReadonlyArray<string>,
  timeoutMillis = 5_000
): Promise<Array<BootstrapCheck>> => {
  const results: Array<BootstrapCheck> = []
  for (const address of addresses) {
    let peerId: string | undefined
    try {
      const addr = multiaddr(address)
      const p2p = addr.getComponents().find((component) => component.code === CODE_P2P)?.value
      if (p2p === undefined) throw new Error("the address has no /p2p/<peer id> part")
      const id = peerIdFromString(p2p)
      peerId = id.toString()
      // the guide's AddrInfo(peerId, [addr.decapsulate('p2p')]): teach the peer store, then dial the peer
      await host.peerStore.merge(id, { multiaddrs: [addr.decapsulateCode(CODE_P2P)] })
      await host.dial(id, { signal: AbortSignal.timeout(timeoutMillis) })
      results.push({ address, peerId, connected: true, error: undefined })
    } catch (error) {
      results.push({ address, peerId, connected: false, error: error instanceof Error ? error.message : String(error) })
    }
  }
  return results
}
