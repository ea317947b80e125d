/**
 * One validator for every namespace the examples write: what each node of
 * an application registers, so that every node accepts (and ranks the
 * same way) the records of the others.
 *
 * @module
 */
import { NamespacedValidator } from "@effect-kad/dht"
import type { PublicKey } from "@libp2p/interface"
import { MyAppValidator } from "./advanced/custom-validator.js"
import { textValidator } from "./quick-start.js"
import { healthValidator } from "./troubleshooting/health-checker.js"
import { storageValidator } from "./usage/distributed-storage.js"

/** `notes` (quick start), `storage`, `health` and `myapp` (records signed by `publisher`). */
export const appValidator = (publisher: PublicKey): NamespacedValidator =>
  new NamespacedValidator({
    notes: textValidator,
    storage: storageValidator,
    health: healthValidator,
    myapp: new MyAppValidator(publisher)
  })
