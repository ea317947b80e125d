import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface ProviderEntry {
  addedAt?: number
  addrsAddedAt?: number
  addrs: Uint8Array<ArrayBuffer>[]
}

export namespace ProviderEntry {
  let _codec: Codec<ProviderEntry>

  export const codec = (): Codec<ProviderEntry> => {
    if (_codec == null) {
      _codec = message<ProviderEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.addedAt != null) {
          w.uint32(8)
          w.sint64Number(obj.addedAt)
        }

        if (obj.addrsAddedAt != null) {
          w.uint32(16)
          w.sint64Number(obj.addrsAddedAt)
        }

        if (obj.addrs != null && obj.addrs.length > 0) {
          for (const value of obj.addrs) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          addrs: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.addedAt = reader.sint64Number()
              break
            }
            case 2: {
              obj.addrsAddedAt = reader.sint64Number()
              break
            }
            case 3: {
              if (opts.limits?.addrs != null && obj.addrs.length === opts.limits.addrs) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              obj.addrs.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          addrs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.addedAt`,
                value: reader.sint64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.addrsAddedAt`,
                value: reader.sint64Number()
              }
              break
            }
            case 3: {
              if (opts.limits?.addrs != null && obj.addrs === opts.limits.addrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              yield {
                field: `${prefix}.addrs[]`,
                index: obj.addrs,
                value: reader.bytes()
              }

              obj.addrs++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ProviderEntryAddedAtFieldEvent {
    field: '$.addedAt'
    value: number
  }

  export interface ProviderEntryAddrsAddedAtFieldEvent {
    field: '$.addrsAddedAt'
    value: number
  }

  export interface ProviderEntryAddrsFieldEvent {
    field: '$.addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<ProviderEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ProviderEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProviderEntry>): ProviderEntry {
    return decodeMessage(buf, ProviderEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ProviderEntry>): Generator<ProviderEntryAddedAtFieldEvent | ProviderEntryAddrsAddedAtFieldEvent | ProviderEntryAddrsFieldEvent> {
    return streamMessage(buf, ProviderEntry.codec(), opts)
  }
}
