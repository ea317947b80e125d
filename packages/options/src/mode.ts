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
 *   server, and back again when reachability is lost.
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
  auto: "auto"
} as const

/** One of `"client"`, `"server"` or `"auto"`; see the {@link DHTMode} value. */
export type DHTMode = (typeof DHTMode)[keyof typeof DHTMode]

/** Every mode, in declaration order. */
export const dhtModes: ReadonlyArray<DHTMode> = [DHTMode.client, DHTMode.server, DHTMode.auto]

/** Whether `value` names a mode. */
export const isDHTMode = (value: unknown): value is DHTMode =>
  value === DHTMode.client || value === DHTMode.server || value === DHTMode.auto
