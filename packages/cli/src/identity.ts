/**
 * The node's persistent identity: an Ed25519 private key kept in a file
 * (libp2p's protobuf key encoding), so a restarted node keeps its peer ID.
 *
 * @module
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys"
import type { PrivateKey } from "@libp2p/interface"
import * as Effect from "effect/Effect"
import { IdentityError, reasonOf } from "./errors.js"

/** Name of the key file inside a data directory. */
export const IDENTITY_FILE = "identity.key"

/** A private key and where it came from. */
export interface Identity {
  readonly privateKey: PrivateKey
  /** `loaded` from the file, `created` and written to it, or `ephemeral` (never written). */
  readonly origin: "loaded" | "created" | "ephemeral"
}

/** A fresh Ed25519 key that is never written anywhere. */
export const ephemeralIdentity: Effect.Effect<Identity, IdentityError> = Effect.tryPromise({
  try: async () => ({ privateKey: await generateKeyPair("Ed25519"), origin: "ephemeral" as const }),
  catch: (cause) => new IdentityError({ path: "(memory)", reason: reasonOf(cause), cause })
})

/**
 * Reads the key in `file`, or creates an Ed25519 key and writes it there
 * (owner read/write only, parent directories created) when the file does
 * not exist. A file that exists but holds no valid key is an error, never
 * silently replaced: that would change the node's peer ID.
 *
 * @example
 * ```ts
 * const identity = yield* loadOrCreateIdentity("./.kad-dht/identity.key")
 * ```
 */
export const loadOrCreateIdentity = (
  file: string
): Effect.Effect<Identity, IdentityError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fail = (reason: string) => (cause: unknown) =>
      new IdentityError({ path: file, reason: `${reason}: ${reasonOf(cause)}`, cause })
    const exists = yield* Effect.mapError(fs.exists(file), fail("cannot check"))
    if (exists) {
      const bytes = yield* Effect.mapError(fs.readFile(file), fail("cannot read"))
      const privateKey = yield* Effect.try({
        try: () => privateKeyFromProtobuf(bytes),
        catch: fail("not a libp2p private key")
      })
      return { privateKey, origin: "loaded" } satisfies Identity
    }
    const privateKey = yield* Effect.tryPromise({
      try: () => generateKeyPair("Ed25519"),
      catch: fail("cannot generate a key")
    })
    yield* Effect.mapError(fs.makeDirectory(path.dirname(file), { recursive: true }), fail("cannot create directory"))
    yield* Effect.mapError(
      fs.writeFile(file, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: "wx" }),
      fail("cannot write")
    )
    return { privateKey, origin: "created" } satisfies Identity
  })
