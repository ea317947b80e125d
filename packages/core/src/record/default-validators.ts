/**
 * The validators a DHT uses when the application supplies none.
 *
 * @module
 */
import { ipnsValidator } from "./ipns.js"
import { publicKeyValidator } from "./public-key.js"
import { NamespacedValidator } from "./validator.js"

/**
 * A fresh {@link NamespacedValidator} with `pk` ({@link publicKeyValidator})
 * and `ipns` ({@link ipnsValidator}) registered, the namespaces the public
 * IPFS DHT stores. Each call returns a new instance, so adding an
 * application's namespace to one DHT's validator does not leak into another.
 *
 * @example
 * ```ts
 * const validator = defaultValidator().addValidator("myapp", myAppValidator)
 * ```
 */
export const defaultValidator = (): NamespacedValidator =>
  new NamespacedValidator({ pk: publicKeyValidator, ipns: ipnsValidator })
