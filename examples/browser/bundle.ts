/**
 * Bundles code for the browser with esbuild and checks that no Node
 * built-in (`fs`, `node:crypto`, …) is reachable from it: the browser
 * example's page, and the `@effect-kad/dht` entry on its own for the
 * bundle-size benchmark.
 *
 * Built-ins are marked external rather than left to fail resolution, so
 * one build lists every one of them with the module that imports it.
 * Packages' `browser` fields are honoured first (a Node-only file mapped to
 * a browser one, or to nothing, is no finding).
 *
 * @module
 */
import { builtinModules } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { build, type Metafile } from "esbuild"

/** The repository root, where bare imports of the workspace resolve. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/** This directory: `index.html` and the page's sources. */
export const exampleDir = fileURLToPath(new URL("./", import.meta.url))

const builtins = [...new Set(builtinModules.flatMap((name) => [name, `${name}/*`, `node:${name}`, `node:${name}/*`]))]

/** A Node built-in the bundle would need, and which module asks for it. */
export interface BuiltinImport {
  readonly builtin: string
  readonly importer: string
}

/** What {@link bundleForBrowser} wrote or measured. */
export interface BrowserBundle {
  /** The bundled JavaScript. */
  readonly code: Uint8Array
  /** Its size gzipped at level 9, in bytes. */
  readonly gzipBytes: number
  /** How many source files went into it. */
  readonly inputs: number
  /** The source files that went into it, relative to the repository root. */
  readonly inputFiles: ReadonlyArray<string>
  /** Node built-ins reachable from the entry; empty when it runs in a browser as is. */
  readonly builtinImports: ReadonlyArray<BuiltinImport>
}

/** What to bundle: a file, or source text that imports from the workspace. */
export type BundleEntry = { readonly file: string } | { readonly contents: string }

const builtinImportsOf = (metafile: Metafile): Array<BuiltinImport> =>
  Object.entries(metafile.inputs).flatMap(([importer, input]) =>
    input.imports.filter((i) => i.external === true).map((i) => ({ builtin: i.path, importer }))
  )

/**
 * Bundles `entry` for the browser: ES module, minified, tree-shaken, from
 * the workspace's TypeScript sources (the `@effect-kad/source` condition).
 *
 * @example
 * ```ts
 * const bundle = await bundleForBrowser({ contents: 'export { IpfsDHT } from "@effect-kad/dht"' })
 * if (bundle.builtinImports.length > 0) throw new Error("Node built-ins on the client path")
 * console.log(bundle.code.byteLength, bundle.gzipBytes)
 * ```
 */
export const bundleForBrowser = async (entry: BundleEntry): Promise<BrowserBundle> => {
  const result = await build({
    ...("file" in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: repoRoot, loader: "ts", sourcefile: "entry.ts" } }),
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    metafile: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["@effect-kad/source"],
    external: builtins,
    logLevel: "silent",
    legalComments: "none"
  })
  const output = result.outputFiles[0]
  if (output === undefined) throw new Error("esbuild wrote no output")
  return {
    code: output.contents,
    gzipBytes: gzipSync(output.contents, { level: 9 }).byteLength,
    inputs: Object.keys(result.metafile.inputs).length,
    inputFiles: Object.keys(result.metafile.inputs),
    builtinImports: builtinImportsOf(result.metafile)
  }
}

/** The page and the bundle that serve the browser example. */
export interface ExampleFiles {
  readonly "index.html": Uint8Array
  readonly "page.js": Uint8Array
}

/**
 * Bundles the example page and fails, naming each one, when Node built-ins
 * are reachable from it.
 *
 * @example
 * ```ts
 * const files = await buildBrowserExample()
 * // serve files["index.html"] and files["page.js"] from one directory
 * ```
 */
export const buildBrowserExample = async (): Promise<ExampleFiles> => {
  const bundle = await bundleForBrowser({ file: path.join(exampleDir, "page.ts") })
  if (bundle.builtinImports.length > 0) {
    const found = bundle.builtinImports.map((i) => `${i.builtin} (from ${i.importer})`).join(", ")
    throw new Error(`the browser example reaches Node built-ins: ${found}`)
  }
  const { readFile } = await import("node:fs/promises")
  return { "index.html": await readFile(path.join(exampleDir, "index.html")), "page.js": bundle.code }
}
