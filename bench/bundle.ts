/**
 * Bundle suite: how many bytes the DHT adds to a web page, minified and
 * gzipped, next to `@libp2p/kad-dht`.
 *
 * Each entry is bundled by esbuild for the browser exactly as the browser
 * example is (`examples/browser/bundle.ts`: ES module, minified,
 * tree-shaken, `browser` fields honoured), and gzipped at level 9. The
 * sizes are deterministic for a given lockfile, so each is measured once.
 * Every bundle is also checked for Node built-ins; a bundle that reaches
 * one fails the suite.
 *
 * @module
 */
import path from "node:path"
import { bundleForBrowser, exampleDir } from "../examples/browser/bundle.js"
import type { BarChart, ResultTable, Suite } from "./lib/suite.js"
import { formatRatio } from "./lib/table.js"

interface Entry {
  readonly name: string
  readonly what: string
  readonly entry: { readonly file: string } | { readonly contents: string }
}

/** The libp2p host of the browser example, without any DHT: what the DHT's share is measured against. */
const hostOnly = `
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2"
import { identify, identifyPush } from "@libp2p/identify"
import { webSockets } from "@libp2p/websockets"
import { createLibp2p } from "libp2p"
export const start = () => createLibp2p({
  addresses: { listen: ["/p2p-circuit"] },
  transports: [webSockets(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), identifyPush: identifyPush() }
})
`

const entries: ReadonlyArray<Entry> = [
  {
    name: "@effect-kad/dht: IpfsDHT",
    what: "import { IpfsDHT } from the public entry: what a client needs",
    entry: { contents: 'export { IpfsDHT } from "@effect-kad/dht"' }
  },
  {
    name: "@effect-kad/dht: everything",
    what: "export * of the public entry",
    entry: { contents: 'export * from "@effect-kad/dht"' }
  },
  {
    name: "@libp2p/kad-dht 16.4.5: kadDHT",
    what: "import { kadDHT } from @libp2p/kad-dht",
    entry: { contents: 'export { kadDHT } from "@libp2p/kad-dht"' }
  },
  {
    name: "libp2p host (no DHT)",
    what: "the example's host: WebSockets, circuit relay, Noise, Yamux, Identify",
    entry: { contents: hostOnly }
  },
  {
    name: "browser example page",
    what: "examples/browser/page.ts: the host, IpfsDHT in client mode, the /cli/ validator, the page",
    entry: { file: path.join(exampleDir, "page.ts") }
  }
]

const kib = (bytes: number): number => Math.round((bytes / 1024) * 10) / 10

/** The `bundle` suite. */
export const bundleSuite: Suite = {
  name: "bundle",
  description: "browser bundle sizes (esbuild, minified, gzip -9) of the DHT, next to @libp2p/kad-dht",
  run: async (context) => {
    const measured: Array<{ name: string; what: string; modules: number; minified: number; gzip: number }> = []
    for (const { name, what, entry } of entries) {
      context.log(`bundling ${name}`)
      const bundle = await bundleForBrowser(entry)
      if (bundle.builtinImports.length > 0) {
        const found = bundle.builtinImports.map((i) => `${i.builtin} (from ${i.importer})`).join(", ")
        throw new Error(`${name} reaches Node built-ins: ${found}`)
      }
      measured.push({ name, what, modules: bundle.inputs, minified: bundle.code.byteLength, gzip: bundle.gzipBytes })
    }
    const js = measured.find((m) => m.name.startsWith("@libp2p/kad-dht"))?.gzip ?? Number.NaN
    const table: ResultTable = {
      title: "Browser bundle sizes",
      columns: ["bundle", "modules", "minified KiB", "gzip KiB", "gzip: this / kad-dht"],
      rows: measured.map((m) => [m.name, m.modules, kib(m.minified), kib(m.gzip), formatRatio(m.gzip / js)]),
      notes: [
        ...measured.map((m) => `${m.name}: ${m.what}`),
        "esbuild, platform browser, ES2022, minified and tree-shaken, from the workspace sources; gzip level 9.",
        "No bundle reaches a Node built-in (the suite fails if one does)."
      ]
    }
    const chart: BarChart = {
      title: "Browser bundle size, gzipped",
      unit: "KiB",
      groups: measured.map((m) => ({ label: m.name, bars: [{ series: "gzip", value: kib(m.gzip) }] }))
    }
    return { tables: [table], charts: [chart], raw: measured }
  }
}
