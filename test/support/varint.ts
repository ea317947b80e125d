/**
 * Frame length prefixes written by hand, so tests can send any value,
 * including ones the codec would refuse to write.
 *
 * @module
 */

/** The unsigned LEB128 varint encoding of `value` (up to 2^53). */
export const varint = (value: number): Uint8Array => {
  const bytes: Array<number> = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Uint8Array.from(bytes)
}
