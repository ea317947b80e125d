/**
 * Every server-side handler of a full node (FIND_NODE, PING, PUT_VALUE,
 * GET_VALUE, ADD_PROVIDER, GET_PROVIDERS) fed random, mutated and
 * semantically hostile messages from many senders, exactly as they arrive
 * after the decoder. The node must answer or stay silent without a defect
 * or a warning, never answer with something too large to send, never store
 * what it must refuse, and go on serving honest peers afterwards.
 */
import { describe, it } from "@effect/vitest"
import { fuzzHandlers } from "./support/handler-fuzz.js"

describe("request handlers under hostile messages", () => {
  it.scopedLive(
    "random, mutated and abusive requests: no defect, bounded answers, nothing invalid stored, honest peers still served",
    () => fuzzHandlers(2000),
    120_000
  )
})
