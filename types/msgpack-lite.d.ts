// msgpack-lite ships no types; this is the part Vigil uses (aedes-persistence-redis
// encodes its retained packets with it, so the retained index reads and writes them alike).
declare module 'msgpack-lite' {
  export function encode (value: unknown): Buffer
  export function decode (buffer: Buffer | Uint8Array): unknown
  const msgpack: { encode: typeof encode, decode: typeof decode }
  export default msgpack
}
