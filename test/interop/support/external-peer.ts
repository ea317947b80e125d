/**
 * Peer programs of other DHT implementations (`test/interop/peers/<impl>/`),
 * built outside the checkout and driven over stdin/stdout by the line
 * protocol of `test/interop/peers/PROTOCOL.md`, behind the same node
 * interface as the in-process nodes of `nodes.ts`. Nothing here depends on
 * which implementation answers: every peer program speaks the same protocol.
 *
 * A peer process is acquired under a Scope: closing it asks the peer to
 * stop, and kills it if it has not exited within a few seconds.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdir } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { PeerId, PeerInfo } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Duration, Effect, Option, type Scope } from "effect"
import type { CID } from "multiformats/cid"
import { buildCacheDir } from "../../support/toolchains.js"
import { type ExternalNode, InteropError, OPERATION_TIMEOUT, type Role } from "./nodes.js"

/** The implementations that run as peer programs. */
export type ExternalImpl = "go" | "rust"

/** Options of one peer program. */
export interface ExternalPeerOptions {
  /** The DHT protocol prefix: `/ipfs` (the default) gives `/ipfs/kad/1.0.0`. */
  readonly protocolPrefix?: string
}

/** A signed record and the DHT key it is stored under, as a peer program made it. */
export interface KeyedRecord {
  readonly key: Uint8Array
  readonly record: Uint8Array
}

/** How a peer program's raw stream ended. */
export interface RawExchange {
  /** The bytes that came back before the stream ended (or once one whole frame had arrived). */
  readonly response: Uint8Array
  /** Whether the remote reset the stream rather than closing it. */
  readonly reset: boolean
}

/** A DHT node in a peer program. */
export interface ExternalDhtNode extends ExternalNode {
  readonly impl: ExternalImpl
  /** An IPNS record for `value` (such as `/ipfs/<cid>`), made and signed by the peer's own code and key. */
  readonly ipnsRecord: (value: string, seq: number, validitySeconds: number) => Effect.Effect<KeyedRecord, InteropError>
  /** The peer's public-key record, for `/pk/<multihash>`. */
  readonly pkRecord: Effect.Effect<KeyedRecord, InteropError>
  /** What the peer's own validator says of a record; `error` is its reason for refusing one. */
  readonly validate: (
    key: Uint8Array,
    value: Uint8Array
  ) => Effect.Effect<{ readonly valid: boolean; readonly error?: string }, InteropError>
  /** Writes `bytes` as they are on a new DHT stream to `peer` and reports what came back. */
  readonly rawRequest: (peer: PeerId, bytes: Uint8Array) => Effect.Effect<RawExchange, InteropError>
  /** Every peer in the routing table. */
  readonly routingTable: Effect.Effect<ReadonlyArray<PeerId>, InteropError>
}

const here = dirname(fileURLToPath(import.meta.url))
const peersDir = resolve(here, "../peers")
const repoRoot = resolve(here, "../../..")

/** Where the built program of `impl` lives. */
const binaryPath = (impl: ExternalImpl): string =>
  impl === "go"
    ? join(buildCacheDir("go-peer"), "interop-peer-go")
    : join(buildCacheDir("cargo-target"), "release", "interop-peer-rust")

const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  new Promise<void>((resolvePromise, reject) => {
    execFile(
      command,
      [...args],
      { ...options, timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error === null) resolvePromise()
        else reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`))
      }
    )
  })

const builds = new Map<ExternalImpl, Promise<string>>()

const build = async (impl: ExternalImpl): Promise<string> => {
  const binary = binaryPath(impl)
  if (impl === "go") {
    await mkdir(dirname(binary), { recursive: true })
    // the Go build cache makes this a relink-free check when nothing changed
    await run("go", ["build", "-buildvcs=false", "-o", binary, "."], { cwd: join(peersDir, "go") })
  } else {
    await run("cargo", ["build", "--release", "--manifest-path", join(peersDir, "rust", "Cargo.toml")], {
      cwd: repoRoot,
      env: { ...process.env, CARGO_TARGET_DIR: buildCacheDir("cargo-target") }
    })
  }
  return binary
}

/**
 * Builds the peer program of `impl` into the build cache (outside the
 * checkout) and returns its path. Once per process: later calls share the
 * first build. A cold build downloads and compiles dependencies and may
 * take minutes; a warm one takes a second or two.
 */
export const buildPeer = (impl: ExternalImpl): Effect.Effect<string, InteropError> =>
  Effect.tryPromise({
    try: () => {
      let pending = builds.get(impl)
      if (pending === undefined) {
        pending = build(impl)
        builds.set(impl, pending)
        pending.catch(() => builds.delete(impl))
      }
      return pending
    },
    catch: (cause) => new InteropError({ node: `${impl} peer`, operation: "build", cause })
  })

/** Deadline of one request to a peer program: its own 30 s deadline plus slack for a busy machine. */
const REQUEST_TIMEOUT = Duration.sum(OPERATION_TIMEOUT, Duration.seconds(20))

/** How long a peer program may take to print its ready line. */
const READY_TIMEOUT = 30_000

const encode = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")
const decode = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"))

type Answer = Record<string, unknown> & { readonly id: number; readonly ok: boolean; readonly error?: string }

/** The process and its request/answer plumbing. */
interface PeerProcess {
  readonly child: ChildProcess
  readonly peerId: PeerId
  readonly addrs: ReadonlyArray<Multiaddr>
  readonly request: (cmd: string, args?: Record<string, unknown>) => Effect.Effect<Answer, InteropError>
  readonly stop: () => Promise<void>
}

const STDERR_TAIL = 8 * 1024

const exited = (child: ChildProcess, millis: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolvePromise) => {
        const timer = setTimeout(() => resolvePromise(false), millis)
        child.once("exit", () => {
          clearTimeout(timer)
          resolvePromise(true)
        })
      })

const spawnPeer = async (
  impl: ExternalImpl,
  name: string,
  role: Role,
  binary: string,
  options: ExternalPeerOptions
): Promise<PeerProcess> => {
  const args = ["--mode", role, "--listen", "/ip4/127.0.0.1/tcp/0"]
  if (options.protocolPrefix !== undefined) args.push("--protocol-prefix", options.protocolPrefix)
  const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] })
  let stderrTail = ""
  child.stderr?.setEncoding("utf8")
  child.stderr?.on("data", (chunk: string) => {
    if (process.env.EFFECT_KAD_INTEROP_PEER_LOGS === "1") process.stderr.write(`[${name}] ${chunk}`)
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL)
  })
  child.stdin?.on("error", () => {
    // the peer exited; pending requests fail through the exit handler
  })

  const pending = new Map<number, { resolve: (answer: Answer) => void; reject: (error: Error) => void }>()
  let ready: ((line: Record<string, unknown>) => void) | undefined
  let failStart: ((error: Error) => void) | undefined
  const readyLine = new Promise<Record<string, unknown>>((resolvePromise, reject) => {
    ready = resolvePromise
    failStart = reject
  })
  const died = () => new Error(`${impl} peer exited (${child.exitCode ?? child.signalCode}); stderr: ${stderrTail}`)
  child.once("error", (error) => failStart?.(error))
  child.once("exit", () => {
    failStart?.(died())
    for (const entry of pending.values()) entry.reject(died())
    pending.clear()
  })

  const lines = createInterface({ input: child.stdout! })
  lines.on("line", (line) => {
    let message: Record<string, unknown>
    try {
      message = JSON.parse(line)
    } catch {
      stderrTail = `${stderrTail}\n(stdout) ${line}`.slice(-STDERR_TAIL)
      return
    }
    if (message.event === "ready") {
      ready?.(message)
      return
    }
    const entry = typeof message.id === "number" ? pending.get(message.id) : undefined
    if (entry !== undefined) {
      pending.delete(message.id as number)
      entry.resolve(message as Answer)
    }
  })

  const timer = setTimeout(
    () => failStart?.(new Error(`no ready line in ${READY_TIMEOUT} ms; stderr: ${stderrTail}`)),
    READY_TIMEOUT
  )
  let readyMessage: Record<string, unknown>
  try {
    readyMessage = await readyLine
  } catch (error) {
    child.kill("SIGKILL")
    throw error
  } finally {
    clearTimeout(timer)
  }

  let nextId = 1
  const request = (cmd: string, args: Record<string, unknown> = {}) =>
    Effect.tryPromise({
      try: (signal) =>
        new Promise<Answer>((resolvePromise, reject) => {
          const id = nextId++
          const onAbort = () => {
            pending.delete(id)
            reject(signal.reason)
          }
          signal.addEventListener("abort", onAbort, { once: true })
          pending.set(id, {
            resolve: (answer) => {
              signal.removeEventListener("abort", onAbort)
              if (answer.ok) resolvePromise(answer)
              else reject(new Error(String(answer.error ?? "failed without a reason")))
            },
            reject: (error) => {
              signal.removeEventListener("abort", onAbort)
              reject(error)
            }
          })
          if (child.exitCode !== null || child.signalCode !== null) {
            pending.delete(id)
            reject(died())
            return
          }
          child.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
        }),
      catch: (cause) => new InteropError({ node: name, operation: cmd, cause })
    }).pipe(
      Effect.timeoutFail({
        duration: REQUEST_TIMEOUT,
        onTimeout: () =>
          new InteropError({ node: name, operation: cmd, cause: `no answer in ${Duration.format(REQUEST_TIMEOUT)}` })
      })
    )

  const stop = async () => {
    lines.close()
    if (!(await exited(child, 0))) {
      child.stdin?.write(`${JSON.stringify({ id: nextId++, cmd: "stop" })}\n`)
      child.stdin?.end()
      if (!(await exited(child, 3_000))) {
        child.kill("SIGKILL")
        await exited(child, 2_000)
      }
    }
  }

  return {
    child,
    peerId: peerIdFromString(String(readyMessage.peerId)),
    addrs: (readyMessage.addrs as ReadonlyArray<string>).map((a) => multiaddr(a)),
    request,
    stop
  }
}

const peerInfoOf = (value: unknown): PeerInfo => {
  const { id, addrs } = value as { id: string; addrs: ReadonlyArray<string> }
  return { id: peerIdFromString(id), multiaddrs: addrs.map((a) => multiaddr(a)) }
}

const peerIds = (value: unknown): ReadonlyArray<PeerId> =>
  (value as ReadonlyArray<string>).map((id) => peerIdFromString(id))

/** An address without its `/p2p/<id>` suffix: peer programs take the peer ID separately. */
const withoutPeerId = (addr: Multiaddr): string => {
  const parts = addr.toString().split("/p2p/")
  return parts[0]
}

/**
 * Starts the peer program of `impl` (building it first if this process has
 * not yet) as a DHT `role` node on 127.0.0.1. The process is stopped when
 * the scope closes, killed if it does not stop in time.
 */
export const startExternalPeer = (
  impl: ExternalImpl,
  name: string,
  role: Role,
  options: ExternalPeerOptions = {}
): Effect.Effect<ExternalDhtNode, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const binary = yield* buildPeer(impl)
    const peer = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => spawnPeer(impl, name, role, binary, options),
        catch: (cause) => new InteropError({ node: name, operation: "start", cause })
      }),
      (peer) => Effect.promise(peer.stop).pipe(Effect.timeoutOption("10 seconds"), Effect.ignore)
    )
    const { request } = peer
    // addresses as js-libp2p reports its own: with the peer ID, so they can be dialed as they are
    const addresses = peer.addrs.map((a) => a.encapsulate(`/p2p/${peer.peerId.toString()}`))
    const routingTable = Effect.map(request("routingTable"), (answer) => peerIds(answer.peers))

    const node: ExternalDhtNode = {
      name,
      impl,
      role,
      peerId: peer.peerId,
      addresses: () => addresses,
      dial: (id, addrs) => Effect.asVoid(request("connect", { peer: id.toString(), addrs: addrs.map(withoutPeerId) })),
      provide: (cid: CID) => Effect.asVoid(request("provide", { cid: cid.toString() })),
      findProviders: (cid: CID) =>
        Effect.map(request("findProviders", { cid: cid.toString(), count: 0 }), (answer) =>
          (answer.providers as ReadonlyArray<unknown>).map(peerInfoOf)
        ),
      put: (key, value) => Effect.asVoid(request("put", { key: encode(key), value: encode(value) })),
      get: (key) =>
        Effect.map(request("get", { key: encode(key) }), (answer) =>
          typeof answer.value === "string" ? Option.some(decode(answer.value)) : Option.none()
        ),
      findPeer: (id) =>
        Effect.map(request("findPeer", { peer: id.toString() }), (answer) =>
          answer.peer === null || answer.peer === undefined ? Option.none() : Option.some(peerInfoOf(answer.peer))
        ),
      getClosestPeers: (key) =>
        Effect.map(request("getClosestPeers", { key: encode(key) }), (answer) => peerIds(answer.peers)),
      routingTable,
      routingTableHas: (id) => Effect.map(routingTable, (peers) => peers.some((p) => p.equals(id))),
      refresh: Effect.asVoid(request("refresh")),
      ipnsRecord: (value, seq, validitySeconds) =>
        Effect.map(request("ipnsRecord", { value, seq, validitySeconds }), (answer) => ({
          key: decode(String(answer.key)),
          record: decode(String(answer.record))
        })),
      pkRecord: Effect.map(request("pkRecord"), (answer) => ({
        key: decode(String(answer.key)),
        record: decode(String(answer.record))
      })),
      validate: (key, value) =>
        Effect.map(request("validate", { key: encode(key), value: encode(value) }), (answer) =>
          answer.valid === true
            ? { valid: true }
            : { valid: false, ...(typeof answer.error === "string" ? { error: answer.error } : {}) }
        ),
      rawRequest: (id, bytes) =>
        Effect.map(request("rawRequest", { peer: id.toString(), bytes: encode(bytes) }), (answer) => ({
          response: decode(String(answer.response ?? "")),
          reset: answer.reset === true
        }))
    }
    return node
  })
