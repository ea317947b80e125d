/**
 * Bundles the built `kad-dht` executable (`dist/bin.js` and what it
 * imports) into `dist/bundle/`: a handful of files instead of some 1,300
 * modules, most of a command's start-up being Node resolving, reading and
 * linking modules one by one. Each command stays in its own chunk, loaded
 * when it runs. Run by `build` after `tsc`.
 *
 * Native and optional modules stay outside and are resolved from this
 * package at run time.
 */
import { rmSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const packageDir = fileURLToPath(new URL(".", import.meta.url))
const outdir = fileURLToPath(new URL("./dist/bundle", import.meta.url))

rmSync(outdir, { recursive: true, force: true })
await build({
  absWorkingDir: packageDir,
  entryPoints: ["dist/bin.js"],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  // classic-level (LevelDB) is a native addon; bufferutil and utf-8-validate are optional native helpers of ws
  external: ["classic-level", "bufferutil", "utf-8-validate"],
  // bundled CommonJS code still calls require for Node's built-ins
  banner: {
    js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);'
  },
  logLevel: "warning"
})
