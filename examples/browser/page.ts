/**
 * The page of `examples/browser/index.html`: wires the form to a
 * {@link startBrowserClient} client and shows each step in the progress
 * log and each answer in the results list.
 *
 * Every result is an `<li>` with `data-op` (the operation) and
 * `data-outcome` (`ok`, `none` or `error`), so scripts, such as the
 * browser test, can wait for them. `?bootstrap=<multiaddr>` (repeatable)
 * fills in the servers.
 *
 * @module
 */
import {
  type BrowserClient,
  cidOfText,
  decodeValue,
  encodeValue,
  reachableAddresses,
  startBrowserClient,
  valueKey
} from "./client.js"

/** How long one operation may take before the page gives up on it. */
const OPERATION_TIMEOUT_MILLIS = 30_000

/** Most providers one search waits for. */
const MAX_PROVIDERS = 20

const element = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id)
  if (found === null) throw new Error(`the page has no #${id}`)
  return found as T
}

const pageStarted = performance.now()
const elapsed = (): string => `${((performance.now() - pageStarted) / 1000).toFixed(2)} s`

const log = (line: string, error = false): void => {
  const entry = document.createElement("div")
  entry.textContent = `[${elapsed()}] ${line}`
  if (error) entry.className = "error"
  const box = element<HTMLDivElement>("log")
  box.append(entry)
  box.scrollTop = box.scrollHeight
}

const result = (op: string, outcome: "ok" | "none" | "error", text: string, values: ReadonlyArray<string> = []) => {
  const item = document.createElement("li")
  item.dataset.op = op
  item.dataset.outcome = outcome
  item.dataset.values = JSON.stringify(values)
  item.textContent = `${op}: ${text}`
  if (outcome === "error") item.className = "error"
  element<HTMLUListElement>("results").append(item)
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

let client: BrowserClient | undefined

/** Runs one operation with the buttons disabled, logging how it ended. */
const operation = (op: string, run: (client: BrowserClient) => Promise<void>) => async (): Promise<void> => {
  if (client === undefined) return
  const fields = element<HTMLFieldSetElement>("operations")
  fields.disabled = true
  try {
    await run(client)
  } catch (cause) {
    log(`${op} failed: ${messageOf(cause)}`, true)
    result(op, "error", messageOf(cause))
  } finally {
    fields.disabled = false
  }
}

const connect = async (): Promise<void> => {
  const bootstrap = element<HTMLTextAreaElement>("bootstrap")
    .value.split(/\s+/)
    .filter((line) => line.length > 0)
  const status = element<HTMLSpanElement>("status")
  if (bootstrap.length === 0) {
    status.textContent = "give at least one server address"
    return
  }
  element<HTMLButtonElement>("connect").disabled = true
  try {
    log(`starting the client; servers: ${bootstrap.join(", ")}`)
    const started = await startBrowserClient({ bootstrap })
    client = started
    log(`client ${started.host.peerId.toString()} started in client mode`)
    started.host.addEventListener("peer:connect", (event) => log(`connected to ${event.detail.toString()}`))
    started.host.addEventListener("peer:disconnect", (event) => log(`disconnected from ${event.detail.toString()}`))
    await started.dht.bootstrap({ signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS) })
    if (started.host.getConnections().length === 0) {
      throw new Error("none of the servers could be reached (are they running, and listening on WebSockets?)")
    }
    log("waiting for a relay reservation (the address this page announces as a provider)")
    const addresses = await reachableAddresses(started.host, OPERATION_TIMEOUT_MILLIS)
    log(`reachable at ${addresses.map(String).join(", ")}`)
    const peers = await started.dht.routingTable.size()
    status.textContent = `connected as ${started.host.peerId.toString()}; routing table: ${peers} peers`
    status.dataset.peerId = started.host.peerId.toString()
    status.dataset.routingTable = String(peers)
    log(`bootstrapped; routing table holds ${peers} peers`)
    element<HTMLFieldSetElement>("operations").disabled = false
  } catch (cause) {
    status.textContent = `could not connect: ${messageOf(cause)}`
    log(`connect failed: ${messageOf(cause)}`, true)
    await client?.stop()
    client = undefined
    element<HTMLButtonElement>("connect").disabled = false
  }
}

const provide = operation("provide", async ({ dht }) => {
  const text = element<HTMLInputElement>("content").value
  const cid = await cidOfText(text)
  log(`providing ${cid.toString()} (the CID of "${text}")`)
  await dht.provide(cid, true, { signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS) })
  log(`provided ${cid.toString()}`)
  result("provide", "ok", cid.toString(), [cid.toString()])
})

const findProviders = operation("find-providers", async ({ dht }) => {
  const text = element<HTMLInputElement>("content").value
  const cid = await cidOfText(text)
  log(`looking for providers of ${cid.toString()}`)
  const found: Array<string> = []
  for await (const provider of dht.findProvidersAsync(cid, MAX_PROVIDERS, {
    signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS)
  })) {
    found.push(provider.id.toString())
    log(`provider #${found.length}: ${provider.id.toString()}`)
  }
  log(`search for ${cid.toString()} done: ${found.length} providers`)
  result("find-providers", found.length > 0 ? "ok" : "none", `${found.length} providers of ${cid}`, found)
})

const put = operation("put", async ({ dht }) => {
  const key = valueKey(element<HTMLInputElement>("key").value)
  const value = element<HTMLInputElement>("value").value
  log(`putting ${key}`)
  await dht.putValue(key, encodeValue(value), { signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS) })
  log(`put ${key}`)
  result("put", "ok", `${key} = ${value}`, [value])
})

const get = operation("get", async ({ dht }) => {
  const key = valueKey(element<HTMLInputElement>("key").value)
  log(`searching values of ${key}`)
  let best: string | undefined
  // searchValue yields each better value as answers arrive: the progress of a get
  for await (const bytes of dht.searchValue(key, { signal: AbortSignal.timeout(OPERATION_TIMEOUT_MILLIS) })) {
    best = decodeValue(bytes) ?? "(not a /cli/ value)"
    log(`value so far: ${best}`)
  }
  if (best === undefined) {
    log(`no value for ${key}`)
    result("get", "none", `nothing found for ${key}`)
  } else {
    result("get", "ok", `${key} = ${best}`, [best])
  }
})

const params = new URLSearchParams(location.search)
element<HTMLTextAreaElement>("bootstrap").value = params.getAll("bootstrap").join("\n")
element<HTMLButtonElement>("connect").addEventListener("click", () => void connect())
element<HTMLButtonElement>("provide").addEventListener("click", () => void provide())
element<HTMLButtonElement>("find-providers").addEventListener("click", () => void findProviders())
element<HTMLButtonElement>("put").addEventListener("click", () => void put())
element<HTMLButtonElement>("get").addEventListener("click", () => void get())
log("page ready")
