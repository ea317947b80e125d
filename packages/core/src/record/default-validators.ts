/**
 * The validators a DHT uses when the application supplies none.
 *
 * @module
 */
import { ipnsValidator } from "./ipns.js"
import { publicKeyValidator } from "./public-key.js"
import { NamespacedValidator, namespaceOf, type Validator } from "./validator.js"

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

/**
 * An application's {@link NamespacedValidator} with the default `pk` and
 * `ipns` namespaces behind it, as go-libp2p-kad-dht's `NamespacedValidator`
 * option adds to the defaults: a key whose namespace the application
 * registered goes to its validator (so it may replace `pk` or `ipns`),
 * any other key to the defaults. Namespaces the application registers
 * later count too. A validator that is not a `NamespacedValidator` routes
 * every key itself and is returned unchanged.
 *
 * @example
 * ```ts
 * const validator = withDefaultNamespaces(new NamespacedValidator({ myapp: myAppValidator }))
 * // /myapp/… keys go to myAppValidator, /pk/… and /ipns/… keys to the defaults
 * ```
 */
export const withDefaultNamespaces = (validator: Validator): Validator => {
  if (!(validator instanceof NamespacedValidator)) return validator
  const defaults = defaultValidator()
  const route = (key: Uint8Array): Validator => {
    const namespace = namespaceOf(key)
    return namespace !== undefined &&
      validator.getValidator(namespace) === undefined &&
      defaults.getValidator(namespace) !== undefined
      ? defaults
      : validator
  }
  return {
    validate: (key, value) => route(key).validate(key, value),
    select: (key, values) => route(key).select(key, values)
  }
}
