/**
 * broker/aedes/user-property-order.ts against mqtt-packet and msgpack-lite
 * themselves: a PUBLISH with User Properties [a=2, c=3, a=1] parses to the
 * object mqtt-packet makes and writes back byte for byte; a changed object is
 * written in the object's order with a length that agrees; Redis' encoding
 * keeps the order; the will stamp comes after the device's own pairs.
 * The bytes are built and read here by hand, not by mqtt-packet.
 */
import { createRequire } from 'node:module'
import mqttPacket from 'mqtt-packet'
import msgpack from 'msgpack-lite'
import t from 'tap'
import { keepUserPropertyOrder, orderedUserProperties, userPropertiesWith, userPropertyPairs } from '../../broker/aedes/index.js'
import { encodePublish } from '../../broker/aedes/publish-encoding.js'
import { inWireOrder, STORED_ORDER_FIELD } from '../../broker/aedes/user-property-order.js'
import { stampProperties } from '../../plugins/wills/stamp.js'

keepUserPropertyOrder()

const require = createRequire(import.meta.url)
/** mqtt-packet's own writer, as generate() reaches it (not through the module's writeToStream, which is patched). */
const unpatchedGenerate = require('mqtt-packet/generate.js') as (packet: unknown, opts: { protocolVersion: number }) => Buffer

const PAIRS = ['a', '2', 'c', '3', 'a', '1']

function str (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function varInt (n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

/** A QoS 0 MQTT 5 PUBLISH with these User Properties (0x26 pairs) in this order, and a content type before them. */
function publishBytes (pairs: readonly string[]): Buffer {
  const props: Buffer[] = [Buffer.from([0x03]), str('text/plain')]
  for (let i = 0; i < pairs.length; i += 2) props.push(Buffer.from([0x26]), str(pairs[i]!), str(pairs[i + 1]!))
  const properties = Buffer.concat(props)
  const body = Buffer.concat([str('t/x'), varInt(properties.length), properties, Buffer.from('hi')])
  return Buffer.concat([Buffer.from([0x30]), varInt(body.length), body])
}

/** The User Properties of a PUBLISH (QoS 0) as read from its bytes, in order; and whether the Remaining Length is the real one. */
function readPairs (bytes: Buffer): { pairs: string[], lengthAgrees: boolean } {
  let i = 1
  let remaining = 0
  let mult = 1
  let byte: number
  do {
    byte = bytes[i++]!
    remaining += (byte & 0x7f) * mult
    mult *= 128
  } while ((byte & 0x80) !== 0)
  const lengthAgrees = remaining === bytes.length - i
  const readStr = (): string => { const n = bytes.readUInt16BE(i); i += 2; const s = bytes.subarray(i, i + n).toString('utf8'); i += n; return s }
  readStr() // topic
  let propLength = 0
  mult = 1
  do {
    byte = bytes[i++]!
    propLength += (byte & 0x7f) * mult
    mult *= 128
  } while ((byte & 0x80) !== 0)
  const end = i + propLength
  const pairs: string[] = []
  while (i < end) {
    const id = bytes[i++]
    if (id === 0x26) pairs.push(readStr(), readStr())
    else if (id === 0x03) readStr()
    else if (id === 0x0b) while ((bytes[i++]! & 0x80) !== 0) { /* Subscription Identifier: a variable byte integer */ }
    else throw new Error(`unexpected property 0x${id?.toString(16)}`)
  }
  return { pairs, lengthAgrees }
}

function parse (bytes: Buffer): mqttPacket.IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  const packets: mqttPacket.Packet[] = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (err) => { throw err })
  parser.parse(bytes)
  if (packets.length !== 1) throw new Error(`parsed ${packets.length} packets`)
  return packets[0] as mqttPacket.IPublishPacket
}

/** What the (patched) module writeToStream writes for `packet`, as one Buffer. */
function write (packet: unknown): Buffer {
  const chunks: Buffer[] = []
  const stream = {
    write (chunk: Buffer | string) { chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk); return true },
    destroy (err?: Error) { if (err !== undefined) throw err }
  }
  mqttPacket.writeToStream(packet as mqttPacket.Packet, stream as never, { protocolVersion: 5 })
  return Buffer.concat(chunks)
}

t.test('parse then write: [a=2, c=3, a=1] goes out as it came in, byte for byte', async (t) => {
  const bytes = publishBytes(PAIRS)
  const packet = parse(bytes)
  t.same(packet.properties?.userProperties, { a: ['2', '1'], c: '3' }, 'the object mqtt-packet makes: a repeated name grouped')
  t.same(userPropertyPairs(packet.properties?.userProperties), PAIRS, 'the wire order is kept beside it')
  t.same(Object.keys(packet.properties!.userProperties!), ['a', 'c'], 'the order is not an enumerable key')
  t.same(JSON.parse(JSON.stringify(packet.properties)), { contentType: 'text/plain', userProperties: { a: ['2', '1'], c: '3' } }, 'nor serialized as one')
  const out = write(packet)
  t.same(out, bytes, 'the same bytes')
  t.same(readPairs(out), { pairs: PAIRS, lengthAgrees: true })
  t.same(readPairs(unpatchedGenerate(packet, { protocolVersion: 5 })).pairs, ['a', '2', 'a', '1', 'c', '3'], 'what mqtt-packet alone writes (the bug)')
})

t.test('a copy of the properties (as Aedes makes to add a Subscription Identifier) keeps the order', async (t) => {
  const packet = parse(publishBytes(PAIRS))
  const copy = { ...packet, properties: { ...packet.properties, subscriptionIdentifier: 7 } }
  t.same(readPairs(write(copy)), { pairs: PAIRS, lengthAgrees: true })
})

t.test('a changed object is written in the object\'s order, with lengths that agree', async (t) => {
  for (const [what, change, expected] of [
    ['a value added to a repeated name', (u: Record<string, string | string[]>) => { (u.a as string[]).push('0') }, ['a', '2', 'a', '1', 'a', '0', 'c', '3']],
    ['a value changed', (u: Record<string, string | string[]>) => { u.c = '4' }, ['a', '2', 'a', '1', 'c', '4']],
    ['a name added', (u: Record<string, string | string[]>) => { u.z = '9' }, ['a', '2', 'a', '1', 'c', '3', 'z', '9']],
    ['a name removed', (u: Record<string, string | string[]>) => { delete u.c }, ['a', '2', 'a', '1']],
    ['a repeated name made single', (u: Record<string, string | string[]>) => { u.a = '2' }, ['a', '2', 'c', '3']]
  ] as const) {
    const packet = parse(publishBytes(PAIRS))
    change(packet.properties!.userProperties as Record<string, string | string[]>)
    const out = write(packet)
    t.same(readPairs(out), { pairs: expected, lengthAgrees: true }, what)
    t.same(out, unpatchedGenerate(packet, { protocolVersion: 5 }), `${what}: what mqtt-packet writes`)
  }
})

t.test('a packet whose object already gives the order, or without properties, is written as it is (no copy)', async (t) => {
  const plain = parse(publishBytes(['x', '1', 'y', '2', 'y', '3']))
  t.equal(inWireOrder(plain), plain, 'names in order, a repeated one adjacent: the packet itself')
  const bare = { cmd: 'publish', topic: 't', payload: Buffer.from('p'), qos: 0, retain: false, dup: false }
  t.equal(inWireOrder(bare), bare, 'no properties')
  const noUser = { ...bare, properties: { contentType: 'a' } }
  t.equal(inWireOrder(noUser), noUser, 'no user properties')
  const reordered = parse(publishBytes(PAIRS))
  t.not(inWireOrder(reordered), reordered, 'interleaved: a copy')
  t.same(reordered.properties?.userProperties, { a: ['2', '1'], c: '3' }, 'the shared packet is not changed')
  // Integer-like names: an object lists them first, in numeric order.
  const numeric = parse(publishBytes(['b', '1', '2', 'x', '1', 'y']))
  t.same(Object.keys(numeric.properties!.userProperties!), ['1', '2', 'b'], 'the object sorts integer-like names')
  t.same(readPairs(write(numeric)).pairs, ['b', '1', '2', 'x', '1', 'y'], 'the wire order is kept')
})

t.test('a repeated name with an empty value keeps both values (mqtt-packet alone overwrote the empty one)', async (t) => {
  const packet = parse(publishBytes(['a', '', 'a', 'x', 'b', '']))
  t.same(packet.properties?.userProperties, { a: ['', 'x'], b: '' })
  t.same(readPairs(write(packet)).pairs, ['a', '', 'a', 'x', 'b', ''])
})

t.test('msgpack (Redis mode) keeps the order; a decoded packet carries no extra field', async (t) => {
  const packet = { cmd: 'publish', topic: 't/x', payload: Buffer.from('hi'), qos: 1, retain: true, dup: false, messageId: 3, properties: parse(publishBytes(PAIRS)).properties }
  const encoded = msgpack.encode(packet)
  const decoded = msgpack.decode(encoded) as typeof packet & Record<string, unknown>
  t.equal(decoded[STORED_ORDER_FIELD], undefined, 'the order field is taken off')
  t.same(decoded.properties?.userProperties, { a: ['2', '1'], c: '3' })
  t.same(userPropertyPairs(decoded.properties?.userProperties), PAIRS, 'the order is back on the object')
  const plain = { ...packet, properties: { userProperties: { a: '1' } } }
  t.same(msgpack.decode(msgpack.encode(plain)), plain, 'a packet whose order is its object\'s is encoded as before')
  t.same(msgpack.encode(plain), require('msgpack-lite/lib/encode.js').encode(plain), 'byte for byte')
  t.same(msgpack.decode(msgpack.encode([1, 'a', { b: 2 }])), [1, 'a', { b: 2 }], 'anything else round-trips')
})

t.test('the will stamp comes after the device\'s own pairs, in their order', async (t) => {
  const own = parse(publishBytes(PAIRS)).properties!
  const stamped = stampProperties(own, { reason: 'connection_lost', at: 1234.5 })
  t.same(userPropertyPairs(stamped.userProperties), [...PAIRS, 'vigil-reason', 'connection_lost', 'vigil-ts', '1234'])
  t.same(userPropertyPairs(own.userProperties), PAIRS, 'the will\'s own properties unchanged')
  const forged = orderedUserProperties(['vigil-ts', 'forged', 'a', '1', 'vigil-reason', 'x'])
  t.same(userPropertyPairs(userPropertiesWith(forged, { 'vigil-reason': 'r', 'vigil-ts': '5' })), ['a', '1', 'vigil-reason', 'r', 'vigil-ts', '5'], 'a forged stamp is replaced')
  t.same(userPropertyPairs(userPropertiesWith({ b: ['1', '2'], a: '3' }, { z: '0' })), ['b', '1', 'b', '2', 'a', '3', 'z', '0'], 'an object without a wire order: the object\'s order')
  t.same(userPropertyPairs(userPropertiesWith(undefined, { z: '0' })), ['z', '0'])
})

t.test('publish-encoding.ts never takes a PUBLISH with User Properties (left to mqtt-packet, which keeps the order)', async (t) => {
  const packet = parse(publishBytes(PAIRS))
  const withMessageId = { ...packet, qos: 1 as const, messageId: 9 }
  t.equal(encodePublish(packet, 5), null, 'the parsed object form')
  t.equal(encodePublish(inWireOrder(packet), 5), null, 'the array form the order wrapper hands on')
  t.equal(encodePublish(withMessageId, 5), null, 'QoS 1')
  t.equal(encodePublish({ ...packet, properties: { userProperties: orderedUserProperties([]) } }, 5), null, 'even an empty userProperties object')
  t.not(encodePublish({ ...packet, properties: undefined }, 5), null, 'the same PUBLISH without properties is taken')
})
