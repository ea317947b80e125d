/**
 * The name and version of `kad-dht`, in a module that imports nothing, so
 * that `kad-dht --version` can answer before any library is loaded.
 *
 * @module
 */

/** The name `kad-dht` runs under, in help and completions. */
export const CLI_NAME = "kad-dht"

/** What `kad-dht --version` prints. */
export const CLI_VERSION = "0.1.0"
