/**
 * The handler fuzzing run shared by the fast and soak suites: every
 * server-side handler of a full node (FIND_NODE, PING, PUT_VALUE,
 * GET_VALUE, ADD_PROVIDER, GET_PROVIDERS) fed random, mutated and
 * semantically hostile messages from many senders, exactly as they arrive
 * after the decoder. The node must answer or stay silent without a defect
 * or a warning, never answer with something too large to send, never store
 * what it must refuse, and go on serving honest peers afterwards.
 */
import { expect } from "@effect/vitest"
import {
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_SIZE,
  type Message,
  MessageType,
  Network,
  peerInfoFromWire,
  validateRecord
} from "@effect-kad/core"
import { ProviderStoreService } from "@effect-kad/providers"
import { generatePeerIds, PeerRouting, RpcHandlers } from "@effect-kad/routing"
import { Cause, Effect, Exit, Option } from "effect"
import fc from "fast-check"
import { decodeChecked, hostileBytesArb, messageArb, plausibleRequestArb } from "./messages.js"
import { collectingLogger, emptyLogs, fullSimulation, reliabilityValidator, storedValue } from "./nodes.js"
import { report } from "./report.js"

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/**
 * Runs `numRuns` hostile requests against one node of a 12-node simulation
 * and checks what it answered, logged and stored. Returns the figures.
 */
export const fuzzHandlers = (numRuns: number) =>
  Effect.gen(function* () {
    const sim = yield* fullSimulation({ size: 12 })
    const target = sim.servers[0]
    const dispatch = yield* target.run(Effect.map(RpcHandlers, (rpc) => rpc.dispatch))
    const strangers = yield* generatePeerIds(3)
    const senders = [...sim.nodes.slice(1).map((n) => n.id), ...strangers]
    const pool = [...senders, target.id]
    const logs = emptyLogs()

    const figures = {
      tried: 0,
      undecodable: 0,
      answered: 0,
      silent: 0,
      refused: 0,
      byType: {} as Record<string, number>
    }
    // which senders may legitimately appear as providers of each key, and which value keys were offered
    const mayProvide = new Map<string, Set<string>>()
    const providerKeys = new Map<string, Uint8Array>()
    const valueKeys = new Map<string, Uint8Array>()

    const inputs = fc.oneof(
      { weight: 2, arbitrary: fc.tuple(hostileBytesArb(pool), fc.nat(senders.length - 1)) },
      { weight: 1, arbitrary: fc.tuple(messageArb(pool).map(encodeMessage), fc.nat(senders.length - 1)) },
      // well-formed but hostile: decodes fine, then abuses semantics (spoofed providers, bad records)
      {
        weight: 3,
        arbitrary: plausibleRequestArb(senders, pool).map(
          ({ sender, message }) => [encodeMessage(message), sender] as const
        )
      }
    )

    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(inputs, async ([bytes, s]) => {
          figures.tried++
          const message = decodeChecked(bytes)
          if (message === undefined) {
            figures.undecodable++
            return
          }
          const from = senders[s]
          figures.byType[String(message.type)] = (figures.byType[String(message.type)] ?? 0) + 1
          track(message, from.toString())
          const exit = await Effect.runPromiseExit(
            dispatch(from, message).pipe(Effect.timeout("10 seconds"), Effect.provide(collectingLogger(logs)))
          )
          if (Exit.isFailure(exit)) {
            // refusing (the server resets the stream) is an answer too; anything else is a handler failure
            const failure = Cause.failureOption(exit.cause)
            const refused =
              Option.isSome(failure) &&
              failure.value._tag === "RequestRefusedError" &&
              Option.isNone(Cause.dieOption(exit.cause))
            expect(refused, `handler for ${message.type} failed: ${String(exit)}`).toBe(true)
            figures.refused++
            return
          }
          const response = exit.value
          if (response === undefined) {
            figures.silent++
            return
          }
          figures.answered++
          const encoded = encodeMessage(response)
          expect(encoded.byteLength).toBeLessThanOrEqual(MAX_MESSAGE_SIZE)
          expect(decodeMessage(encoded)._tag).toBe("Right")
          // never tell a peer about itself
          for (const peer of response.closerPeers) {
            expect(peerInfoFromWire(peer)?.id.equals(from)).not.toBe(true)
          }
        }),
        { numRuns }
      )
    )

    function track(message: Message, from: string) {
      const key = message.key
      if (key === undefined) return
      if (message.type === MessageType.ADD_PROVIDER && key.byteLength >= 1 && key.byteLength <= 80) {
        providerKeys.set(hex(key), key)
        const own = message.providerPeers.some(
          (p) => peerInfoFromWire(p)?.id.toString() === from && (peerInfoFromWire(p)?.multiaddrs.length ?? 0) > 0
        )
        if (own) {
          const set = mayProvide.get(hex(key)) ?? new Set()
          set.add(from)
          mayProvide.set(hex(key), set)
        }
      }
      if (message.type === MessageType.PUT_VALUE && key.byteLength > 0) valueKeys.set(hex(key), key)
    }

    report(`handlers: ${numRuns} hostile requests`, {
      ...figures,
      warnings: logs.warnings.length,
      errors: logs.errors.length
    })
    expect(logs.errors).toEqual([])
    expect(logs.warnings).toEqual([])
    expect(figures.answered).toBeGreaterThan(100)
    expect(Object.keys(figures.byType).length).toBe(6)

    // spoofed provider entries were dropped: every stored provider announced itself
    let providersStored = 0
    for (const [k, key] of providerKeys) {
      const providers = yield* target.run(
        Effect.flatMap(ProviderStoreService, (store) => store.getProviders(key)).pipe(Effect.orDie)
      )
      providersStored += providers.length
      const allowed = mayProvide.get(k) ?? new Set()
      for (const p of providers) expect(allowed.has(p.id.toString()), `spoofed provider for ${k}`).toBe(true)
    }
    // only valid records were stored
    const validator = reliabilityValidator()
    let valuesStored = 0
    for (const key of valueKeys.values()) {
      const stored = yield* target.run(storedValue(key))
      if (Option.isNone(stored)) continue
      valuesStored++
      const valid = yield* Effect.either(validateRecord(validator, key, stored.value.value))
      expect(valid._tag, `invalid record stored under ${hex(key)}`).toBe("Right")
    }
    report("handlers: stores after the hostile run", {
      providerKeys: providerKeys.size,
      providersStored,
      valueKeys: valueKeys.size,
      valuesStored
    })
    expect(providersStored).toBeGreaterThan(0)
    expect(valuesStored).toBeGreaterThan(0)

    // the node still serves honest peers over the network
    const honest = sim.nodes[5]
    const answer = yield* honest.run(
      Effect.flatMap(Network, (network) =>
        network.request(target.id, {
          type: MessageType.FIND_NODE,
          key: honest.id.toMultihash().bytes,
          closerPeers: [],
          providerPeers: []
        })
      )
    )
    expect(answer.closerPeers.length).toBeGreaterThan(0)
    const closest = yield* honest.run(
      Effect.flatMap(PeerRouting, (r) => r.getClosestPeers(crypto.getRandomValues(new Uint8Array(32))))
    )
    expect(closest.length).toBe(11)
  })
