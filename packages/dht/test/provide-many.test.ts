/**
 * `provideMany`, `stopProviding` and the reprovide progress through the
 * Promise facade, and provided keys that outlive the DHT on its datastore.
 */
import { describe, expect, it } from "@effect/vitest"
import { InvalidKeyError } from "@effect-kad/core"
import { MemoryDatastore } from "datastore-core"
import type { Libp2p } from "libp2p"
import { CID } from "multiformats/cid"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { afterEach } from "vitest"
import { createLoopbackHost } from "../../../test/support/hosts.js"
import { DHTMode, datastore, emptyTableWait, IpfsDHT, mode, type ProvideManyProgress } from "../src/index.js"

const hosts: Array<Libp2p> = []
const dhts: Array<IpfsDHT> = []
afterEach(async () => {
  for (const dht of dhts.splice(0)) await dht.close()
  for (const host of hosts.splice(0)) await host.stop()
})

const cids = (count: number) =>
  Promise.all(
    Array.from({ length: count }, async (_, i) =>
      CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`many ${i}`)))
    )
  )

describe("provideMany and stopProviding on IpfsDHT", () => {
  it("provided keys outlive the DHT on its datastore; stopProviding forgets them there too", async () => {
    const host = await createLoopbackHost()
    hosts.push(host)
    const store = new MemoryDatastore()
    const life = async () => {
      const dht = new IpfsDHT({ host, options: [mode(DHTMode.server), emptyTableWait(0), datastore(store)] })
      dhts.push(dht)
      await dht.start()
      return dht
    }
    const keys = await cids(25)

    const first = await life()
    const seen: Array<ProvideManyProgress> = []
    const result = await first.provideMany(keys, { onProgress: (progress) => seen.push(progress) })
    // alone on the network: every key is kept, none could be announced
    expect(result.done).toBe(25)
    expect(result.messages).toBe(0)
    expect(seen.at(-1)?.done).toBe(25)
    expect((await first.reprovideProgress()).keysTotal).toBe(25)
    await first.close()

    const second = await life()
    const progress = await second.reprovideProgress()
    expect(progress).toMatchObject({ strategy: "sweep", keysTotal: 25, overrunCycles: 0 })
    expect(await second.stopProviding(keys[0])).toBe(true)
    expect(await second.stopProviding(keys[0])).toBe(false)
    await expect(second.stopProviding({} as CID)).rejects.toBeInstanceOf(InvalidKeyError)
    // a bad CID among good ones stores nothing
    await expect(second.provideMany([keys[0], {} as CID])).rejects.toBeInstanceOf(InvalidKeyError)
    await second.close()

    const third = await life()
    expect((await third.reprovideProgress()).keysTotal).toBe(24)
  }, 30_000)
})
