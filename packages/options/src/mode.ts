/**
 * The three ways a DHT node can take part in the network.
 *
 * @module
 */

/**
 * Operating mode of a DHT node, usable both as a value and as a type, the
 * way the guide writes it:
 *
 * - `client`: sends queries but never answers them and does not advertise
 *   the DHT protocol (right for mobile and NATed devices);
 * - `server`: answers queries and advertises the protocol, so other peers
 *   add it to their routing tables;
 * - `auto`: a client until the host learns it is publicly reachable, then a
 *   server, and back again when reachability is lost;
 * - `autoServer`: a server unless the host is known to be reachable only
 *   privately (go-libp2p-kad-dht's `ModeAutoServer`). A node whose
 *   reachability is not known yet, or that has only loopback/LAN addresses
 *   but was never told it is private, serves: right for LANs, test
 *   networks and 127.0.0.1, where `auto` would stay a client forever.
 *
 * @example
 * ```ts
 * const options: DHTOptions = { mode: DHTMode.client }
 * const same: DHTOptions = { mode: "client" }
 * ```
 */
export const DHTMode = {
  client: "client",
  server: "server",
  auto: "auto",
  autoServer: "autoServer"
} as const

/** One of `"client"`, `"server"`, `"auto"` or `"autoServer"`; see the {@link DHTMode} value. */
export type DHTMode = (typeof DHTMode)[keyof typeof DHTMode]

/** Every mode, in declaration order. */
export const dhtModes: ReadonlyArray<DHTMode> = [DHTMode.client, DHTMode.server, DHTMode.auto, DHTMode.autoServer]

/** Whether `value` names a mode. */
export const isDHTMode = (value: unknown): value is DHTMode =>
  value === DHTMode.client || value === DHTMode.server || value === DHTMode.auto || value === DHTMode.autoServer
