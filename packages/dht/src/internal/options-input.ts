/**
 * Folding the constructor's separate arguments (provider store, validator)
 * into the options, as the guide's `IpfsDHT({ host, providerStore,
 * options, validator })` and `DHT.new_(host, providerStore, options)` take
 * them.
 *
 * @module
 */
import type { Validator } from "@effect-kad/core"
import {
  type DHTOption,
  isDHTOption,
  providerStore as providerStoreOption,
  validator as validatorOption
} from "@effect-kad/options"
import type { ProviderStore } from "@effect-kad/providers"
import type { OptionsInput } from "../dht.js"

/** Appends the explicit arguments to the options so they win over anything the options said. */
export const foldInto = (
  options: OptionsInput | undefined,
  extra: { readonly providerStore?: ProviderStore | undefined; readonly validator?: Validator | undefined }
): OptionsInput => {
  const extras: Array<DHTOption> = []
  if (extra.providerStore !== undefined) extras.push(providerStoreOption(extra.providerStore))
  if (extra.validator !== undefined) extras.push(validatorOption(extra.validator))
  if (extras.length === 0) return options ?? {}
  if (options === undefined) return extras
  if (Array.isArray(options) && options.every(isDHTOption)) return [...options, ...extras]
  return {
    ...(options as object),
    ...(extra.providerStore ? { providerStore: extra.providerStore } : {}),
    ...(extra.validator ? { validator: extra.validator } : {})
  }
}
