import { describe, expect, it } from "@effect/vitest"
import { NamespacedValidator, type Validator } from "@effect-kad/core"
import { Duration, Either, Option } from "effect"
import {
  bootstrapPeers,
  bootstrapPeersFunc,
  DHTConfig,
  DHTMode,
  defaultBootstrapPeers,
  disableProviders,
  disableValues,
  mode,
  namespacedValidator,
  onRequestHook,
  queryFilter,
  resolveOptions,
  routingTableFilter,
  routingTableRefreshPeriod,
  routingTableRefreshQueryTimeout,
  validator
} from "../src/index.js"

const ok = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected success, got ${String(either.left)}`)
  return either.right
}

const fail = <A, E>(either: Either.Either<A, E>): E => {
  if (Either.isRight(either)) throw new Error("expected a failure")
  return either.left
}

const accepting = (name: string): Validator & { readonly name: string } => ({
  name,
  validate: () => undefined,
  select: () => 0
})

describe("go-libp2p-kad-dht's options", () => {
  it("autoServer is a mode", () => {
    expect(ok(resolveOptions([mode(DHTMode.autoServer)])).mode).toBe("autoServer")
    expect(ok(resolveOptions({ mode: "autoServer" })).mode).toBe("autoServer")
  })

  it("the filters, hook and switches resolve to what was given; defaults are off", () => {
    const q = () => true
    const rt = () => false
    const hook = () => undefined
    const config = ok(
      resolveOptions([
        queryFilter(q),
        routingTableFilter(rt),
        onRequestHook(hook),
        disableValues(),
        disableProviders(),
        routingTableRefreshPeriod("5 minutes"),
        routingTableRefreshQueryTimeout("3 seconds")
      ])
    )
    expect(Option.getOrThrow(config.queryFilter)).toBe(q)
    expect(Option.getOrThrow(config.routingTableFilter)).toBe(rt)
    expect(Option.getOrThrow(config.onRequestHook)).toBe(hook)
    expect(config.disableValues).toBe(true)
    expect(config.disableProviders).toBe(true)
    expect(Duration.toMillis(config.refreshInterval)).toBe(300_000)
    expect(Duration.toMillis(config.refreshQueryTimeout)).toBe(3_000)
    const d = DHTConfig.defaults
    expect(d.disableValues || d.disableProviders).toBe(false)
    expect(Duration.toMillis(d.refreshQueryTimeout)).toBe(10_000)
    expect(Option.isNone(d.queryFilter) && Option.isNone(d.routingTableFilter)).toBe(true)
  })

  it("refuses a hook or filter that is not a function, naming the field", () => {
    const hook = fail(resolveOptions({ onRequestHook: 3 as never }))
    expect(hook.field).toBe("onRequestHook")
    expect(hook.reason).toMatch(/must be a function/)
    expect(fail(resolveOptions({ queryFilter: "all" as never })).field).toBe("queryFilter")
    expect(fail(resolveOptions({ disableValues: "yes" as never })).field).toBe("disableValues")
  })

  it("bootstrapPeersFunc is asked each time; unreadable entries and a throwing function give no peers", () => {
    let list: Array<string> = []
    const config = ok(resolveOptions([bootstrapPeersFunc(() => list)]))
    const current = DHTConfig.bootstrapPeers(config)
    expect(current()).toEqual([])
    list = [defaultBootstrapPeers[5], "not a multiaddr"]
    expect(current().map((p) => p.id.toString())).toEqual(["QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"])
    const throwing = ok(
      resolveOptions([
        bootstrapPeersFunc(() => {
          throw new Error("registry down")
        })
      ])
    )
    expect(DHTConfig.bootstrapPeers(throwing)()).toEqual([])
    // without the function, the fixed list
    const fixed = ok(resolveOptions([bootstrapPeers([defaultBootstrapPeers[5]])]))
    expect(DHTConfig.bootstrapPeers(fixed)()).toHaveLength(1)
  })

  it("refuses bootstrapPeersFunc together with bootstrapPeers", () => {
    const error = fail(resolveOptions([bootstrapPeers([defaultBootstrapPeers[5]]), bootstrapPeersFunc(() => [])]))
    expect(error.field).toBe("bootstrapPeersFunc")
  })

  it("namespacedValidator adds namespaces across a list and to a NamespacedValidator, leaving it unchanged", () => {
    const a = accepting("a")
    const b = accepting("b")
    const c = accepting("c")
    const base = new NamespacedValidator({ base: c })
    const config = ok(resolveOptions([validator(base), namespacedValidator("a", a), namespacedValidator("b", b)]))
    const combined = Option.getOrThrow(DHTConfig.validator(config))
    expect(combined).toBeInstanceOf(NamespacedValidator)
    const ns = combined as NamespacedValidator
    expect(ns.namespaces().sort()).toEqual(["a", "b", "base"])
    expect(ns.getValidator("a")).toBe(a)
    expect(base.namespaces()).toEqual(["base"])
    // with nothing added, the validator as given
    expect(Option.getOrThrow(DHTConfig.validator(ok(resolveOptions([validator(base)]))))).toBe(base)
    expect(Option.isNone(DHTConfig.validator(DHTConfig.defaults))).toBe(true)
  })

  it("refuses a namespace with a slash, and namespaces added to a validator that routes every key itself", () => {
    expect(fail(resolveOptions([namespacedValidator("my/app", accepting("x"))])).field).toBe("namespacedValidators")
    const error = fail(resolveOptions([validator(accepting("all")), namespacedValidator("a", accepting("a"))]))
    expect(error.field).toBe("namespacedValidators")
    expect(error.reason).toMatch(/not a NamespacedValidator/)
  })

  it("defaultBootstrapPeers is the public list: every entry reads as a bootstrap peer", () => {
    expect(defaultBootstrapPeers.filter((a) => a.startsWith("/dnsaddr/bootstrap.libp2p.io/"))).toHaveLength(4)
    const config = ok(resolveOptions([bootstrapPeers(defaultBootstrapPeers)]))
    // mars is listed over TCP and QUIC: one peer with two addresses
    expect(config.bootstrapPeers).toHaveLength(defaultBootstrapPeers.length - 1)
    const mars = config.bootstrapPeers.find((p) => p.id.toString() === "QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ")
    expect(mars?.multiaddrs.map(String)).toEqual([
      "/ip4/104.131.131.82/tcp/4001",
      "/ip4/104.131.131.82/udp/4001/quic-v1"
    ])
    // never a default: a node joins the public network only when asked to
    expect(DHTConfig.defaults.bootstrapPeers).toEqual([])
  })
})
