/**
 * @effect-kad/cli: the `kad-dht` command line. Its building blocks are
 * exported for programs that want the same nodes without the command line:
 * hosts, persistent identities, the `/cli/` validator, the local network
 * demo and the text helpers.
 *
 * @module
 */
export { rootCommand, run } from "./cli.js"
export { bootstrapOption, checkPeerAddress, withClientNode } from "./commands/common.js"
export { DEFAULT_LISTEN, DEFAULT_WS_LISTEN, listenAddresses, type NodeSettings, runNode } from "./commands/node.js"
export { closestKey, type PrintedPeer, printedPeer } from "./commands/operations.js"
export {
  type DemoReport,
  type DemoSettings,
  type OperationReport,
  renderReport,
  runDemo,
  type Sample,
  startNetwork
} from "./demo.js"
export {
  BootstrapError,
  type CliError,
  IdentityError,
  NothingFoundError,
  OperationError,
  reasonOf,
  StartupError
} from "./errors.js"
export { dialableAddresses, type Host, type HostOptions, isWebSockets, makeHost } from "./host.js"
export { ephemeralIdentity, IDENTITY_FILE, type Identity, loadOrCreateIdentity } from "./identity.js"
export { call, countingNetwork, type KadNode, type KadNodeOptions, makeKadNode, RequestCounter } from "./kad-node.js"
export type { LogFormat } from "./node-config.js"
export { emit, reported } from "./output.js"
export { ProgressBar, type ProgressBarOptions, type ProgressSink, renderBar } from "./progress.js"
export { type LatencySummary, quantile, summarize } from "./stats.js"
export { type Column, renderTable } from "./table.js"
export {
  CLI_NAMESPACE,
  type CliValue,
  cliNodeValidator,
  cliValidator,
  decodeCliValue,
  dhtKeyFor,
  encodeCliValue,
  MAX_CLI_VALUE_BYTES,
  type ShownValue,
  showValue
} from "./values.js"
