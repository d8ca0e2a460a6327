/**
 * The order of User Properties [MQTT-3.3.2-18] (issue 20, found by
 * test/conformance5/ beside Mosquitto 2): the broker forwards a PUBLISH's
 * User Properties in the order it received them, a repeated name included.
 * mqtt-packet 9 decodes them into an object keyed by name, the values of a
 * repeated name grouped in an array, so [a=2, c=3, a=1] came out as
 * [a=2, a=1, c=3] (and integer-like names sorted first).
 *
 * - The parser: every pair it reads is kept in wire order; when the packet's
 *   properties are done, the userProperties object is rebuilt from that list
 *   (the same grouping as mqtt-packet's, without its loss of a repeated
 *   name's empty value) and the list rides on it under a non-enumerable
 *   Symbol, so everything that reads the object reads what it always did, and
 *   a copy of the object (spread, Object.assign, JSON) simply has no order.
 * - The writer (mqtt-packet's writeToStream, which Aedes looks up at each
 *   write): when a packet's userProperties carries a list that still says the
 *   same as the object (nobody changed it since) and its order is not already
 *   the object's own, the pairs go out in that order, as the array of one-pair
 *   objects mqtt-packet itself accepts (same bytes, same length, on a copy of
 *   the packet: shared packets are never changed). A packet without
 *   properties pays one property read; one whose order the object already
 *   gives pays one walk over its names.
 * - msgpack-lite (Redis mode: the retained index, the offline queue, wills,
 *   messages between nodes): a Symbol is not serialized, so a packet whose
 *   order differs from its object's is encoded with the list beside it
 *   (`vigilUserPropertyOrder`, top level: a reader that missed it would
 *   ignore it) and decoding puts it back on the object.
 *
 * userPropertiesWith() gives Vigil's own additions (the will stamp's
 * `vigil-reason`, `vigil-ts`) after the device's pairs, in their order.
 * test/unit/aedes-v5-pins.test.ts pins the mqtt-packet internals patched here.
 */
import { createRequire } from 'node:module'

export type UserProperties = Record<string, string | string[]>

/** The pairs in wire order, flat: [name0, value0, name1, value1, ...]. */
const ORDER = Symbol('vigil.userPropertyOrder')
/** Pairs read so far by a parser in the properties it is reading; null once one was not two strings. */
const PAIRS = Symbol('vigil.userPropertyPairs')
/** Where a msgpack-encoded packet carries its pair list. */
export const STORED_ORDER_FIELD = 'vigilUserPropertyOrder'

type Ordered = UserProperties & { [ORDER]?: readonly string[] }

const hasOwn = Object.prototype.hasOwnProperty

/** The object mqtt-packet's parser makes of `pairs` (a repeated name's values in an array), carrying the order. */
export function orderedUserProperties (pairs: readonly string[]): UserProperties {
  const out = Object.create(null) as UserProperties
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!
    const value = pairs[i + 1]!
    if (!hasOwn.call(out, name)) out[name] = value
    else {
      const current = out[name]!
      if (Array.isArray(current)) current.push(value)
      else out[name] = [current, value]
    }
  }
  attachOrder(out, pairs)
  return out
}

/** Put a wire order on a userProperties object (it is used only while it agrees with the object). */
export function attachOrder (userProperties: object, pairs: readonly string[]): void {
  Object.defineProperty(userProperties, ORDER, { value: pairs, configurable: true, enumerable: false, writable: false })
}

/** The pairs of `userProperties` in the order they go out: its wire order while that still agrees, else the object's. */
export function userPropertyPairs (userProperties: UserProperties | undefined | null): string[] {
  if (userProperties === undefined || userProperties === null) return []
  const list = (userProperties as Ordered)[ORDER]
  if (list !== undefined && agrees(userProperties, list)) return [...list]
  const out: string[] = []
  for (const name of Object.getOwnPropertyNames(userProperties)) {
    const value = userProperties[name]!
    if (Array.isArray(value)) for (const v of value) out.push(name, String(v))
    else out.push(name, String(value))
  }
  return out
}

/**
 * `own`'s pairs in their order without those named in `set`, then `set`'s:
 * a new object (the input is not changed) that keeps that order on the wire.
 */
export function userPropertiesWith (own: UserProperties | undefined | null, set: Record<string, string>): UserProperties {
  const pairs = userPropertyPairs(own)
  const kept: string[] = []
  for (let i = 0; i < pairs.length; i += 2) if (!hasOwn.call(set, pairs[i]!)) kept.push(pairs[i]!, pairs[i + 1]!)
  for (const name of Object.keys(set)) kept.push(name, set[name]!)
  return orderedUserProperties(kept)
}

/** Whether grouping `list` by name gives exactly `obj` (values compared as written: strings). */
function agrees (obj: UserProperties, list: readonly string[]): boolean {
  let slots = 0
  for (const name of Object.getOwnPropertyNames(obj)) {
    const value = obj[name]
    slots += Array.isArray(value) ? value.length : 1
  }
  if (slots * 2 !== list.length) return false
  // Each pair takes the next unused value of its name; as many pairs as values: all used once.
  const used = new Map<string, number>()
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!
    if (!hasOwn.call(obj, name)) return false
    const value = obj[name]
    const k = used.get(name) ?? 0
    if (Array.isArray(value) ? value[k] !== list[i + 1] : k !== 0 || value !== list[i + 1]) return false
    used.set(name, k + 1)
  }
  return true
}

/** Whether the object's own order (what mqtt-packet writes: names in property order, a name's values together) is `list`. */
function inObjectOrder (obj: UserProperties, list: readonly string[]): boolean {
  let i = 0
  for (const name of Object.getOwnPropertyNames(obj)) {
    const value = obj[name]
    if (Array.isArray(value)) {
      for (let k = 0; k < value.length; k++, i += 2) if (list[i] !== name || list[i + 1] !== value[k]) return false
    } else {
      if (list[i] !== name || list[i + 1] !== value) return false
      i += 2
    }
  }
  return i === list.length
}

/** The wire order to write for `userProperties`, or null when the object's own order is right (or it was changed). */
export function orderToWrite (userProperties: unknown): readonly string[] | null {
  if (userProperties === null || typeof userProperties !== 'object') return null
  const list = (userProperties as Ordered)[ORDER]
  if (list === undefined) return null
  const obj = userProperties as UserProperties
  return inObjectOrder(obj, list) || !agrees(obj, list) ? null : list
}

interface PacketLike { properties?: { userProperties?: unknown, [key: string]: unknown } | null, [key: string]: unknown }

/** The packet as mqtt-packet should write it to keep the order: `packet` itself, or a copy. */
export function inWireOrder<T> (packet: T): T {
  const properties = (packet as PacketLike).properties
  if (properties === undefined || properties === null || typeof properties !== 'object') return packet
  const list = orderToWrite(properties.userProperties)
  if (list === null) return packet
  // mqtt-packet writes an array of userProperties objects one after the other, in array order.
  const pairs = new Array<UserProperties>(list.length / 2)
  for (let i = 0; i < list.length; i += 2) {
    const one = Object.create(null) as UserProperties
    one[list[i]!] = list[i + 1]!
    pairs[i / 2] = one
  }
  return { ...(packet as object), properties: { ...properties, userProperties: pairs } } as T
}

interface ParserInternals {
  _parseProperties(): unknown
  _parseStringPair(): { name: unknown, value: unknown }
  [PAIRS]?: string[] | null
}
type WriteToStream = (packet: unknown, stream: unknown, opts?: { protocolVersion?: number }) => boolean
interface Msgpack { encode(value: unknown, options?: unknown): Buffer, decode(buffer: unknown, options?: unknown): unknown }

let installed = false

/**
 * Install once at start-up: on mqtt-packet's parser (every client's), on its
 * writeToStream (after publish-encoding.ts, which never takes a packet with
 * properties), and on msgpack-lite.
 */
export function keepUserPropertyOrder (): void {
  if (installed) return
  installed = true
  const require = createRequire(import.meta.url)
  patchParser((require('mqtt-packet/parser.js') as { prototype: ParserInternals }).prototype)
  patchWriter(require('mqtt-packet') as { writeToStream: WriteToStream })
  patchMsgpack(require('msgpack-lite') as Msgpack)
}

function patchParser (proto: ParserInternals): void {
  const parseProperties = proto._parseProperties
  const parseStringPair = proto._parseStringPair
  // userProperties is the one property of type 'pair': every pair read is a User Property.
  proto._parseStringPair = function orderedPair (this: ParserInternals) {
    const pair = parseStringPair.call(this)
    const list = this[PAIRS]
    if (list === null) return pair
    if (typeof pair.name !== 'string' || typeof pair.value !== 'string') this[PAIRS] = null
    else if (list === undefined) this[PAIRS] = [pair.name, pair.value]
    else list.push(pair.name, pair.value)
    return pair
  }
  proto._parseProperties = function orderedProperties (this: ParserInternals) {
    if (this[PAIRS] !== undefined) this[PAIRS] = undefined
    const result = parseProperties.call(this) as { userProperties?: unknown } | false
    const list = this[PAIRS]
    if (list === undefined) return result
    this[PAIRS] = undefined
    // A pair that was not two strings (a malformed packet: the parser reports it): left as parsed.
    if (list !== null && result !== false && result !== null && typeof result === 'object' && result.userProperties !== undefined) {
      result.userProperties = orderedUserProperties(list)
    }
    return result
  }
}

function patchWriter (codec: { writeToStream: WriteToStream }): void {
  const write = codec.writeToStream
  codec.writeToStream = function orderedUserPropertiesWrite (packet, stream, opts) {
    // Properties exist on the wire in MQTT 5 only [MQTT-2.2.2].
    if (opts?.protocolVersion !== 5) return write(packet, stream, opts)
    return write(inWireOrder(packet), stream, opts)
  }
}

function patchMsgpack (msgpack: Msgpack): void {
  const encode = msgpack.encode
  const decode = msgpack.decode
  msgpack.encode = function orderedEncode (value: unknown, options?: unknown): Buffer {
    if (value !== null && typeof value === 'object') {
      const properties = (value as PacketLike).properties
      if (properties !== undefined && properties !== null && typeof properties === 'object') {
        const list = orderToWrite(properties.userProperties)
        if (list !== null) return encode({ ...value, [STORED_ORDER_FIELD]: list }, options)
      }
    }
    return encode(value, options)
  }
  msgpack.decode = function orderedDecode (buffer: unknown, options?: unknown): unknown {
    const value = decode(buffer, options)
    if (value === null || typeof value !== 'object') return value
    const list = (value as Record<string, unknown>)[STORED_ORDER_FIELD]
    if (list === undefined) return value
    delete (value as Record<string, unknown>)[STORED_ORDER_FIELD]
    const userProperties = (value as PacketLike).properties?.userProperties
    if (Array.isArray(list) && list.every((s) => typeof s === 'string') && userProperties !== null && typeof userProperties === 'object') {
      attachOrder(userProperties, list as string[])
    }
    return value
  }
}
