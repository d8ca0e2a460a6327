// msgpack-lite ships no types; the part Vigil uses (mqemitter-redis' wire format).
declare module 'msgpack-lite' {
  export function encode (value: unknown): Buffer
  export function decode (buffer: Buffer | Uint8Array): unknown
}
