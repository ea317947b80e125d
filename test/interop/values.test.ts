/**
 * Values across implementations, under the `/test/` namespace whose
 * validator and selector both sides are configured with: PUT_VALUE written
 * by one implementation is stored by the other, GET_VALUE answers carry
 * what the other implementation needs (js discards a record without
 * `timeReceived`), both pick the same best record among competing ones and
 * correct peers holding an outdated one, and both refuse invalid records.
 */

import { expect, layer } from "@effect/vitest"
import { MessageType, parseRfc3339 } from "@effect-kad/core"
import { Effect, Option } from "effect"
import { eventually, firstOfEachKind, MixedNetwork, type MixedNetworkShape } from "./support/network.js"
import { type DhtNode, InteropError } from "./support/nodes.js"
import { encodeRequest, rawRequest, sendRaw } from "./support/raw.js"
import { testKey, testValue, text } from "./support/validator.js"

let keys = 0
/** A key no other test uses. */
const freshKey = (label: string) => testKey(`${label.replaceAll(" ", "-")}-${Date.now()}-${keys++}`)

/** The record a server returns to a raw GET_VALUE, with its `timeReceived` parsed. */
const storedRecord = (net: MixedNetworkShape, server: DhtNode, key: Uint8Array) =>
  Effect.map(rawRequest(net.probe, server.peerId, { type: MessageType.GET_VALUE, key }), (response) =>
    response.record?.value === undefined
      ? Option.none()
      : Option.some({
          value: text(response.record.value),
          timeReceived: response.record.timeReceived
        })
  )

/** Waits until `server` answers GET_VALUE for `key` with `value` and a parsable `timeReceived`. */
const expectStored = (net: MixedNetworkShape, server: DhtNode, key: Uint8Array, value: Uint8Array) =>
  eventually(
    Effect.flatMap(storedRecord(net, server, key), (stored) => {
      const ok =
        Option.isSome(stored) &&
        stored.value.value === text(value) &&
        stored.value.timeReceived !== undefined &&
        parseRfc3339(stored.value.timeReceived) !== undefined
      return ok
        ? Effect.void
        : Effect.fail(
            new InteropError({
              node: server.name,
              operation: "store value",
              cause: `answered ${JSON.stringify(stored)}`
            })
          )
    }),
    "10 seconds"
  )

/** QUERY_ERRORs js nodes reported about our nodes since `marks` were taken. */
const jsErrorsAboutOurs = (net: MixedNetworkShape, marks: ReadonlyMap<string, number>) => {
  const ours = new Set(net.ours.servers.map((n) => n.peerId.toString()))
  return [...net.js.servers, ...net.js.clients].flatMap((js) =>
    js.queryErrors
      .slice(marks.get(js.name) ?? 0)
      .filter((e) => ours.has(e.from.toString()))
      .map((e) => `${js.name} ${e.operation} from ${net.nameOf(e.from)}: ${e.message}`)
  )
}

const markJsErrors = (net: MixedNetworkShape) =>
  new Map([...net.js.servers, ...net.js.clients].map((js) => [js.name, js.queryErrors.length]))

const putters = firstOfEachKind

layer(MixedNetwork.layer(), { excludeTestServices: true, timeout: "90 seconds" })("values", (it) => {
  for (const [label, pick] of putters) {
    it.effect(
      `${label} puts: every server of the other implementation stores the record and every node of it gets the value`,
      () =>
        Effect.gen(function* () {
          const net = yield* MixedNetwork
          const putter = pick(net)
          const marks = markJsErrors(net)
          const key = freshKey(label)
          const value = testValue(1, `from ${putter.name}`)
          yield* putter.put(key, value)

          const otherImpl = putter.impl === "ours" ? net.js : net.ours
          for (const server of otherImpl.servers) yield* expectStored(net, server, key, value)
          for (const getter of [...otherImpl.servers, ...otherImpl.clients]) {
            expect(text(Option.getOrUndefined(yield* getter.get(key))), getter.name).toBe(text(value))
          }
          // js checks that PUT_VALUE is echoed and that GET_VALUE records carry timeReceived
          expect(jsErrorsAboutOurs(net, marks)).toEqual([])
        }),
      60_000
    )
  }

  for (const getterImpl of ["ours", "js"] as const) {
    it.effect(
      `${getterImpl === "ours" ? "our" : "a js"} get picks the best of competing records and corrects outdated peers of both kinds`,
      () =>
        Effect.gen(function* () {
          const net = yield* MixedNetwork
          const getter = getterImpl === "ours" ? net.ours.servers[1] : net.js.servers[1]
          const putter = getterImpl === "ours" ? net.js.servers[2] : net.ours.servers[2]
          const key = freshKey(`best-for-${getterImpl}`)
          const older = testValue(1, "older")
          const newer = testValue(2, "newer")
          yield* putter.put(key, older)
          for (const server of net.servers) yield* expectStored(net, server, key, older)

          // the newer record reaches one server of each implementation only
          const holders = [net.ours.servers[3], net.js.servers[3]]
          for (const holder of holders) {
            const echo = yield* rawRequest(net.probe, holder.peerId, {
              type: MessageType.PUT_VALUE,
              key,
              record: { key, value: newer }
            })
            expect(text(echo.record?.value), holder.name).toBe(text(newer))
          }

          const marks = markJsErrors(net)
          expect(text(Option.getOrUndefined(yield* getter.get(key)))).toBe(text(newer))
          // entry correction: every other server that answered with the older record now holds the newer one
          for (const server of net.servers.filter((s) => s !== getter)) yield* expectStored(net, server, key, newer)
          expect(jsErrorsAboutOurs(net, marks)).toEqual([])
        }),
      60_000
    )
  }

  it.effect(
    "a worse record put later: ours keeps the better one (as go does), js overwrites; gets still return the best",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const key = freshKey("keep-better")
        const better = testValue(5, "better")
        const worse = testValue(3, "worse")
        yield* net.ours.servers[4].put(key, better)
        for (const server of net.servers) yield* expectStored(net, server, key, better)

        const put = (server: DhtNode) =>
          rawRequest(net.probe, server.peerId, { type: MessageType.PUT_VALUE, key, record: { key, value: worse } })
        // ours answers with the record it kept, which any client reads as "not stored"
        const ours = net.ours.servers[3]
        expect(text((yield* put(ours)).record?.value)).toBe(text(better))
        expect(Option.map(yield* storedRecord(net, ours, key), (r) => r.value)).toEqual(Option.some(text(better)))
        // @libp2p/kad-dht 16.4.5 stores any valid record without comparing it to the one it has
        const js = net.js.servers[3]
        expect(text((yield* put(js)).record?.value)).toBe(text(worse))
        expect(Option.map(yield* storedRecord(net, js, key), (r) => r.value)).toEqual(Option.some(text(worse)))

        for (const getter of [net.ours.servers[2], net.js.servers[2], net.ours.clients[0], net.js.clients[0]]) {
          expect(text(Option.getOrUndefined(yield* getter.get(key))), getter.name).toBe(text(better))
        }
        // and the gets corrected the js server back to the better record
        yield* expectStored(net, js, key, better)
      }),
    60_000
  )

  it.effect(
    "records the namespace validator refuses: both implementations reset the stream and store nothing",
    () =>
      Effect.gen(function* () {
        const net = yield* MixedNetwork
        const encoder = new TextEncoder()
        const refused: ReadonlyArray<readonly [string, Uint8Array, Uint8Array]> = [
          ["malformed value", freshKey("invalid"), encoder.encode("not a versioned value")],
          ["unknown namespace", encoder.encode(`/elsewhere/${Date.now()}`), testValue(1, "x")]
        ]
        for (const [label, key, value] of refused) {
          for (const server of [net.ours.servers[0], net.js.servers[0]]) {
            // no echo: both implementations reset the stream of a PUT_VALUE they refuse
            const outcome = yield* sendRaw(
              net.probe,
              server.peerId,
              encodeRequest({ type: MessageType.PUT_VALUE, key, record: { key, value } }),
              "3 seconds"
            )
            expect({ end: outcome.end, frames: outcome.frames.length }, `${server.name} ${label}`).toEqual({
              end: "reset",
              frames: 0
            })
            expect(Option.isNone(yield* storedRecord(net, server, key)), `${server.name} ${label}`).toBe(true)
          }
        }
      }),
    60_000
  )
})
