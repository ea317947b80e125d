/**
 * @effect-kad/core: the Kademlia kernel shared by every other package.
 *
 * @module
 */
export {
  AbortedError,
  DecodeError,
  DHTClosedError,
  FeatureDisabledError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidRecordError,
  MaxRetriesExceededException,
  MessageTooLargeError,
  NotFoundError,
  ProtocolError,
  printableKey,
  RequestRefusedError,
  TimeoutError,
  TransientNetworkError
} from "./errors.js"
export {
  asKadId,
  commonPrefixLength,
  compareBytes,
  compareDistance,
  KAD_ID_BYTES,
  type KadId,
  KEYSPACE_BITS,
  kadIdEquals,
  kadIdOfKey,
  kadIdOfPeer,
  kadIdToHex,
  normalizedDistance,
  randomKadIdWithPrefix,
  xorDistance
} from "./kad/key.js"
export {
  type AddressFilter,
  isLoopbackAddress,
  isPrivateAddress,
  keepAllAddresses,
  publicAddressesOnly,
  publicAndLoopbackAddresses
} from "./network/addresses.js"
export * as Libp2pNetwork from "./network/libp2p.js"
export {
  type AnswerBehaviour,
  MemoryNetworkHub,
  type MemoryNetworkOptions,
  type MemoryNetworkStats
} from "./network/memory.js"
export {
  Network,
  type NetworkShape,
  type PeerEvent,
  type RequestError,
  type RequestHandler,
  type RequestOptions,
  type ServingMode
} from "./network/network.js"
export {
  defaultRetryPolicy,
  isTransient,
  type RetryPolicy,
  retrySchedule,
  withRetry
} from "./network/retry.js"
export {
  defaultValidator,
  withDefaultNamespaces
} from "./record/default-validators.js"
export {
  createIpnsRecord,
  createIpnsRecordWithExpiration,
  DEFAULT_IPNS_TTL_NANOS,
  decodeIpnsRecord,
  IPNS_PREFIX,
  type IpnsRecord,
  type IpnsValidatorOptions,
  ipnsKey,
  ipnsValidator,
  MAX_IPNS_RECORD_SIZE,
  makeIpnsValidator
} from "./record/ipns.js"
export {
  PK_PREFIX,
  pkKey,
  publicKeyValidator
} from "./record/public-key.js"
export {
  type DhtRecord,
  formatRfc3339Nano,
  makeRecord,
  parseRfc3339,
  recordFromWire,
  recordToWire
} from "./record/record.js"
export {
  NamespacedValidator,
  namespaceOf,
  selectRecord,
  type Validator,
  validateRecord
} from "./record/validator.js"
export {
  ConnectionType,
  DECODE_LIMITS,
  DEFAULT_PROTOCOL,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_SIZE,
  Message,
  MessageType,
  WireRecord
} from "./wire/codec.js"
export {
  FrameDecoder,
  frame
} from "./wire/frame.js"
export {
  type PeerInfo,
  peerInfoFromWire,
  peerInfoToWire
} from "./wire/peer.js"
