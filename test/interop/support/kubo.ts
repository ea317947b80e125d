/**
 * kubo (the Go IPFS daemon) as a real client of our DHT on 127.0.0.1, and
 * hosts running our DHT on kubo's LAN protocol (`/ipfs/lan/kad/1.0.0`).
 *
 * kubo is built from its released module into the build cache (outside the
 * checkout), started with its own repository in a temporary directory, and
 * driven over its HTTP RPC API. Every process, host and directory is
 * acquired under a Scope and released when it closes, also after a failure.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { access, cp, mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import {
  DHTMode,
  filterLocalhostInResponses,
  type IpfsDHT,
  type KadDHTService,
  kadDHT,
  mode,
  protocolPrefix
} from "@effect-kad/dht"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { identify } from "@libp2p/identify"
import type { PeerId, PrivateKey } from "@libp2p/interface"
import { peerIdFromString } from "@libp2p/peer-id"
import { ping } from "@libp2p/ping"
import { tcp } from "@libp2p/tcp"
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr"
import { Effect, type Scope } from "effect"
import { createLibp2p, type Libp2p } from "libp2p"
import { buildCacheDir } from "../../support/toolchains.js"
import { acquireHost, InteropError } from "./nodes.js"

/** The kubo release under test. */
export const KUBO_VERSION = "v0.43.1"

/** The DHT protocol prefix of kubo's LAN DHT: `/ipfs/lan/kad/1.0.0`. */
export const LAN_PREFIX = "/ipfs/lan"

const KUBO_MODULE = "github.com/ipfs/kubo"

/**
 * Changes to kubo's `go.mod` before building. v0.43.1 replaces go-libp2p
 * with a fork (a pseudo-version of `github.com/lidel/go-libp2p`) that the
 * module proxy does not serve, so `go install …/cmd/ipfs@v0.43.1` cannot
 * work (it also refuses any module with a `replace`). The fork only lifts
 * go-libp2p's QUIC and WebTransport dependencies; without it kubo builds
 * against the go-libp2p v0.49.0 it requires, with the quic-go and
 * webtransport-go versions that go-libp2p, boxo and go-libp2p-kad-dht
 * declare. TCP is the only transport used here.
 */
const GO_MOD_EDITS = [
  "-dropreplace=github.com/libp2p/go-libp2p",
  "-require=github.com/quic-go/quic-go@v0.60.0",
  "-require=github.com/quic-go/webtransport-go@v0.11.1"
]

const BUILD_TIMEOUT = 20 * 60_000

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly timeout?: number } = {}
) =>
  new Promise<string>((resolvePromise, reject) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, env: options.env, timeout: options.timeout ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolvePromise(stdout)
        else reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr.slice(-8192)}`))
      }
    )
  })

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false
  )

/** Where the kubo binary is installed (`GOBIN` of its build). */
export const kuboBinaryPath = (): string => join(buildCacheDir(`kubo-${KUBO_VERSION}`), "ipfs")

const build = async (binary: string): Promise<void> => {
  const started = Date.now()
  process.stderr.write(`\nkubo interop: building kubo ${KUBO_VERSION} into ${binary} (minutes on a cold cache)\n`)
  const download = JSON.parse(
    await run("go", ["mod", "download", "-json", `${KUBO_MODULE}@${KUBO_VERSION}`], { timeout: BUILD_TIMEOUT })
  ) as { readonly Dir?: string; readonly Error?: string }
  if (download.Dir === undefined) throw new Error(`go mod download ${KUBO_MODULE}: ${download.Error}`)
  // the module cache is read-only: build in a writable copy whose go.mod can be edited
  const work = await mkdtemp(join(tmpdir(), "kubo-src-"))
  try {
    await cp(download.Dir, work, { recursive: true })
    await run("chmod", ["-R", "u+w", work])
    await run("go", ["mod", "edit", ...GO_MOD_EDITS], { cwd: work })
    await mkdir(join(binary, ".."), { recursive: true })
    await run("go", ["install", "./cmd/ipfs"], {
      cwd: work,
      env: { ...process.env, GOBIN: join(binary, ".."), GOFLAGS: "-mod=mod -buildvcs=false" },
      timeout: BUILD_TIMEOUT
    })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  process.stderr.write(`kubo interop: built kubo ${KUBO_VERSION} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
}

let pendingBuild: Promise<string> | undefined

/**
 * The kubo binary, built first when the build cache lacks it (once per
 * process). A cold build downloads about 555 MB of modules and compiles
 * them: 14 minutes on a busy 2-core machine.
 */
export const kuboBinary: Effect.Effect<string, InteropError> = Effect.tryPromise({
  try: () => {
    if (pendingBuild === undefined) {
      const binary = kuboBinaryPath()
      pendingBuild = exists(binary).then(async (found) => {
        if (!found) await build(binary)
        return binary
      })
      pendingBuild.catch(() => {
        pendingBuild = undefined
      })
    }
    return pendingBuild
  },
  catch: (cause) => new InteropError({ node: "kubo", operation: "build", cause })
})

/** A routing query event as kubo's RPC API streams it (`Type` 4 is a provider). */
export interface KuboQueryEvent {
  readonly Type: number
  readonly ID?: string
  readonly Extra?: string
  readonly Responses?: ReadonlyArray<{ readonly ID: string; readonly Addrs: ReadonlyArray<string> | null }> | null
}

/** The `Type` of a final-peer event (`routing findpeer`'s answer). */
export const KUBO_EVENT_FINAL_PEER = 2

/** The `Type` of a provider event. */
export const KUBO_EVENT_PROVIDER = 4

/** A running kubo daemon. */
export interface KuboNode {
  readonly name: string
  readonly peerId: PeerId
  /** Its swarm addresses (127.0.0.1 TCP). */
  readonly addresses: ReadonlyArray<Multiaddr>
  /** The HTTP RPC API base, such as `http://127.0.0.1:40123/api/v0`. */
  readonly api: string
  /**
   * Calls an RPC command (`"routing/findprovs"`) with positional `args` and
   * options, and returns every JSON object of its answer (streamed commands
   * answer one per line), typed as the caller expects them. Fails on an HTTP
   * error or a stream error.
   */
  readonly rpc: <A = Record<string, unknown>>(
    command: string,
    args?: ReadonlyArray<string>,
    options?: Record<string, string | number | boolean>,
    body?: FormData
  ) => Effect.Effect<ReadonlyArray<A>, InteropError>
  /** The daemon's output so far (its last 16 KiB), for failure messages. */
  readonly log: () => string
}

/** Deadline of one RPC call; kubo's own query deadlines are set shorter. */
const RPC_TIMEOUT = 45_000

const READY_TIMEOUT = 60_000

const LOG_TAIL = 16 * 1024

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

/**
 * kubo's configuration for a loopback test network, on top of
 * `ipfs init --profile=test` (API, gateway and swarm on 127.0.0.1 with
 * OS-chosen ports, no bootstrap peers, no mDNS, no AutoConf, no delegated
 * routers, loopback addresses kept by the LAN DHT).
 *
 * `Routing.Type` `dhtclient` makes both of kubo's DHTs clients: kubo stores
 * no records for others, so every record it finds came from our servers.
 */
const KUBO_CONFIG: ReadonlyArray<readonly [key: string, json: string]> = [
  ["Routing.Type", '"dhtclient"'],
  ["Routing.LoopbackAddressesOnLanDHT", "true"],
  // no relay, hole punching or AutoNAT service chatter on a loopback network
  ["Swarm.RelayClient.Enabled", "false"],
  ["Swarm.RelayService.Enabled", "false"],
  ["Swarm.EnableHolePunching", "false"],
  ["AutoNAT.ServiceMode", '"disabled"']
]

const spawnDaemon = async (name: string, binary: string, repo: string) => {
  const env = { ...process.env, IPFS_PATH: repo }
  await run(binary, ["init", "--profile=test"], { env })
  for (const [key, json] of KUBO_CONFIG) await run(binary, ["config", "--json", key, json], { env })

  const child = spawn(binary, ["daemon"], { env, stdio: ["ignore", "pipe", "pipe"] })
  let log = ""
  const append = (chunk: string) => {
    if (process.env.EFFECT_KAD_INTEROP_PEER_LOGS === "1") process.stderr.write(`[${name}] ${chunk}`)
    log = (log + chunk).slice(-LOG_TAIL)
  }
  child.stdout.setEncoding("utf8")
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", append)

  const ready = new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in ${READY_TIMEOUT} ms; output: ${log}`)), READY_TIMEOUT)
    let api: string | undefined
    child.stdout.on("data", (chunk: string) => {
      append(chunk)
      api ??= /RPC API server listening on (\S+)/.exec(log)?.[1]
      if (api !== undefined && log.includes("Daemon is ready")) {
        clearTimeout(timer)
        resolvePromise(api)
      }
    })
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`kubo exited (${code ?? signal}); output: ${log}`))
    })
  })
  let apiAddr: string
  try {
    apiAddr = await ready
  } catch (error) {
    child.kill("SIGKILL")
    await exited(child, 5_000)
    throw error
  }
  const stop = async () => {
    if (await exited(child, 0)) return
    // kubo shuts down gracefully on SIGTERM; a stuck one is killed
    child.kill("SIGTERM")
    if (!(await exited(child, 8_000))) {
      child.kill("SIGKILL")
      await exited(child, 2_000)
    }
  }
  const parts = /^\/ip4\/([\d.]+)\/tcp\/(\d+)$/.exec(apiAddr)
  if (parts === null) {
    await stop()
    throw new Error(`unexpected RPC API address ${apiAddr}`)
  }
  return { child, api: `http://${parts[1]}:${parts[2]}/api/v0`, log: () => log, stop }
}

/**
 * Starts a kubo daemon with a fresh repository in a temporary directory,
 * both removed when the scope closes (the daemon gets SIGTERM, then
 * SIGKILL if it has not exited within 8 s).
 */
export const startKubo = (name = "kubo"): Effect.Effect<KuboNode, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const binary = yield* kuboBinary
    const repo = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => mkdtemp(join(tmpdir(), "effect-kad-kubo-")),
        catch: (cause) => new InteropError({ node: name, operation: "create repository", cause })
      }),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })).pipe(Effect.ignore)
    )
    const daemon = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => spawnDaemon(name, binary, repo),
        catch: (cause) => new InteropError({ node: name, operation: "start", cause })
      }),
      (daemon) => Effect.promise(daemon.stop).pipe(Effect.timeoutOption("15 seconds"), Effect.ignore)
    )

    const rpc = <A = Record<string, unknown>>(
      command: string,
      args: ReadonlyArray<string> = [],
      options: Record<string, string | number | boolean> = {},
      body?: FormData
    ) =>
      Effect.tryPromise({
        try: async (signal) => {
          const query = new URLSearchParams()
          for (const arg of args) query.append("arg", arg)
          for (const [key, value] of Object.entries(options)) query.append(key, String(value))
          const response = await fetch(`${daemon.api}/${command}?${query}`, {
            method: "POST",
            body,
            signal: AbortSignal.any([signal, AbortSignal.timeout(RPC_TIMEOUT)])
          })
          const text = await response.text()
          if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`)
          const trailer = response.headers.get("X-Stream-Error")
          if (trailer !== null && trailer !== "") throw new Error(`stream error: ${trailer}`)
          const objects: Array<Record<string, unknown>> = []
          for (const line of text.split("\n")) {
            if (line.trim() === "") continue
            const parsed = JSON.parse(line) as Record<string, unknown>
            // a streamed command reports a failure as a final error object
            if (parsed.Type === "error" && typeof parsed.Message === "string") throw new Error(parsed.Message)
            objects.push(parsed)
          }
          return objects as unknown as ReadonlyArray<A>
        },
        catch: (cause) => new InteropError({ node: name, operation: command, cause })
      })

    const [id] = yield* rpc<{ ID: string; Addresses: ReadonlyArray<string> | null }>("id")
    return {
      name,
      peerId: peerIdFromString(id.ID),
      addresses: (id.Addresses ?? []).map((a) => multiaddr(a)),
      api: daemon.api,
      rpc,
      log: daemon.log
    } satisfies KuboNode
  })

/** A host running our DHT as a server on kubo's LAN protocol. */
export interface LanServer {
  readonly name: string
  readonly host: Libp2p
  readonly peerId: PeerId
  /** The host's key, for signing records under its own name. */
  readonly privateKey: PrivateKey
  readonly dht: IpfsDHT
}

/**
 * A libp2p host on 127.0.0.1 (TCP, Noise, Yamux, Identify, Ping), as the
 * interop suite's hosts are, running our DHT in server mode under the
 * `/ipfs/lan` prefix with loopback addresses kept in responses and the
 * default validators (`/pk`, `/ipns`).
 */
export const startLanServer = (name: string): Effect.Effect<LanServer, InteropError, Scope.Scope> =>
  Effect.gen(function* () {
    const privateKey = yield* Effect.promise(() => generateKeyPair("Ed25519"))
    const host = yield* acquireHost(name, () =>
      createLibp2p({
        privateKey,
        addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        // js-libp2p refuses a sixth inbound connection per second from one IP; here every peer is 127.0.0.1
        connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 256 },
        services: {
          identify: identify(),
          ping: ping(),
          dht: kadDHT([protocolPrefix(LAN_PREFIX), mode(DHTMode.server), filterLocalhostInResponses(false)])
        }
      })
    )
    return {
      name,
      host,
      peerId: host.peerId,
      privateKey,
      dht: (host.services.dht as KadDHTService).dht
    } satisfies LanServer
  })
