/**
 * Serves the browser example on 127.0.0.1: bundles the page, then answers
 * `GET /` (and `/index.html`) and `GET /page.js` until stopped.
 *
 * Run it with `npx -y pnpm@10 example:browser [port]` and open the address
 * it prints; `?bootstrap=<multiaddr>` in the address fills in the servers.
 *
 * @module
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { buildBrowserExample, type ExampleFiles } from "./bundle.js"

/** A running example server. */
export interface ExampleServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string
  readonly close: () => Promise<void>
}

const contentTypes: Record<keyof ExampleFiles, string> = {
  "index.html": "text/html; charset=utf-8",
  "page.js": "text/javascript; charset=utf-8"
}

const listen = (server: Server, port: number): Promise<AddressInfo> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve(server.address() as AddressInfo))
  })

/**
 * Bundles the page and serves it on 127.0.0.1 (`port` 0: any free port).
 *
 * @example
 * ```ts
 * const server = await serveBrowserExample()
 * await page.goto(`${server.url}?bootstrap=${encodeURIComponent(address)}`)
 * await server.close()
 * ```
 */
export const serveBrowserExample = async (port = 0): Promise<ExampleServer> => {
  const files = await buildBrowserExample()
  const server = createServer((request, response) => {
    const pathname = new URL(request.url ?? "/", "http://127.0.0.1").pathname
    const name: keyof ExampleFiles | undefined =
      pathname === "/" || pathname === "/index.html" ? "index.html" : pathname === "/page.js" ? "page.js" : undefined
    if (request.method !== "GET" || name === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found")
      return
    }
    response.writeHead(200, { "content-type": contentTypes[name], "cache-control": "no-store" }).end(files[name])
  })
  const address = await listen(server, port)
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8080)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`not a port: ${process.argv[2]}`)
    process.exitCode = 2
  } else {
    const server = await serveBrowserExample(port)
    console.log(`the browser example is at ${server.url}`)
    console.log("start a server with `npx -y pnpm@10 kad-dht node --memory --ws` and paste its /ws address")
  }
}
