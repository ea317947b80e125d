#!/usr/bin/env node
/**
 * The `kad-dht` executable.
 *
 * A bare `kad-dht --version` is answered here, before Effect or any
 * command is loaded. Otherwise Node's compile cache is switched on before
 * anything else is imported (hence the dynamic import below: static
 * imports would be evaluated first), so every run after the first reuses
 * the compiled code of the modules it loads. `NODE_COMPILE_CACHE` chooses
 * its directory and `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Node 22.0
 * has no compile cache and starts without it.
 *
 * @module
 */
import nodeModule from "node:module"
import { CLI_VERSION } from "./version.js"

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(`${CLI_VERSION}\n`)
} else {
  nodeModule.enableCompileCache?.()
  await import("./main.js")
}
