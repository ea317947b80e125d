/**
 * Usage pattern: content routing.
 *
 * @module
 */
import type { IpfsDHT, PeerInfo } from "@effect-kad/dht"
import type { CID } from "multiformats/cid"

/** The guide's `ContentRouter`. */
export class ContentRouter {
  constructor(readonly dht: IpfsDHT) {}

  /** Stores a provider record locally and announces it to the peers closest to the CID. */
  async announceContent(contentId: CID): Promise<void> {
    await this.dht.provide(contentId, true)
  }

  /** Up to `maxProviders` providers of the content (local ones first). */
  async findContentProviders(contentId: CID, maxProviders = 10): Promise<Array<PeerInfo>> {
    const providers: Array<PeerInfo> = []
    for await (const provider of this.dht.findProvidersAsync(contentId, maxProviders)) {
      providers.push(provider)
      if (providers.length >= maxProviders) break
    }
    return providers
  }

  /**
   * The providers found within `timeoutMillis`, at most `maxProviders`.
   * The `timeout` call option ends the search quietly when the deadline
   * passes, so the providers found until then are returned.
   */
  async findContentWithTimeout(contentId: CID, timeoutMillis: number, maxProviders = 5): Promise<Array<PeerInfo>> {
    const providers: Array<PeerInfo> = []
    for await (const provider of this.dht.findProvidersAsync(contentId, maxProviders, { timeout: timeoutMillis })) {
      providers.push(provider)
    }
    return providers
  }
}
