import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { peerIdFromPrivateKey } from "@libp2p/peer-id"
import { Effect, Either } from "effect"
import { loadOrCreateIdentity } from "../src/index.js"

const withTempDir = <A, E, R>(use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "kad-dht-identity-"))),
    use,
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

describe("loadOrCreateIdentity", () => {
  it.effect("creates an Ed25519 key readable only by its owner, then loads the same key", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = join(dir, "nested", "identity.key")
        const created = yield* loadOrCreateIdentity(file)
        expect(created.origin).toBe("created")
        expect(created.privateKey.type).toBe("Ed25519")
        const mode = (yield* Effect.promise(() => stat(file))).mode & 0o777
        expect(mode).toBe(0o600)
        const loaded = yield* loadOrCreateIdentity(file)
        expect(loaded.origin).toBe("loaded")
        expect(peerIdFromPrivateKey(loaded.privateKey).equals(peerIdFromPrivateKey(created.privateKey))).toBe(true)
        const bytes = yield* Effect.promise(() => readFile(file))
        expect(bytes.byteLength).toBeGreaterThan(32)
      })
    ).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("refuses a file that holds no key instead of replacing it", () =>
    withTempDir((dir) =>
      Effect.gen(function* () {
        const file = join(dir, "identity.key")
        yield* Effect.promise(() => writeFile(file, "not a key"))
        const result = yield* Effect.either(loadOrCreateIdentity(file))
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("IdentityError")
          expect(result.left.message).toContain("not a libp2p private key")
        }
        expect(yield* Effect.promise(() => readFile(file, "utf8"))).toBe("not a key")
      })
    ).pipe(Effect.provide(NodeContext.layer))
  )
})
