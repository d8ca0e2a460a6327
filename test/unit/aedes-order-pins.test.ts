/**
 * What broker/aedes/user-property-order.ts and disconnect-flush.ts rely on in
 * mqtt-packet, msgpack-lite, aedes-packet, aedes-persistence-redis and Aedes,
 * pinned on the installed versions with nothing of Vigil installed: an upgrade
 * that changes one of them fails here, by name.
 */
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { createRequire } from 'node:module'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import msgpack from 'msgpack-lite'
import t from 'tap'
import { rawSocket, waitFor } from '../helpers/clients.js'

const require = createRequire(import.meta.url)
const Parser = require('mqtt-packet/parser.js') as { prototype: Record<string, unknown> }
const constants = require('mqtt-packet/constants.js') as { propertiesTypes: Record<string, string>, properties: Record<string, number> }
const generate = require('mqtt-packet/generate.js') as (packet: unknown, opts: { protocolVersion: number }) => Buffer
const Packet = require('aedes-packet') as new (original: object, broker?: object) => { properties?: unknown }

function str (s: string): Buffer {
  return Buffer.concat([Buffer.from([0, Buffer.byteLength(s)]), Buffer.from(s)])
}
/** A QoS 0 MQTT 5 PUBLISH with User Properties a=2, c=3, a=1, in that order. */
const PUBLISH = ((): Buffer => {
  const props = Buffer.concat([[0x26, 'a', '2'], [0x26, 'c', '3'], [0x26, 'a', '1']].map(([id, n, v]) => Buffer.concat([Buffer.from([id as number]), str(n as string), str(v as string)])))
  const body = Buffer.concat([str('t'), Buffer.from([props.length]), props])
  return Buffer.concat([Buffer.from([0x30, body.length]), body])
})()

t.test('mqtt-packet parser: User Properties are the one \'pair\' property, read by _parseStringPair inside _parseProperties', async (t) => {
  t.equal(typeof Parser.prototype._parseProperties, 'function', 'Parser.prototype._parseProperties')
  t.equal(typeof Parser.prototype._parseStringPair, 'function', 'Parser.prototype._parseStringPair')
  t.same(Object.keys(constants.propertiesTypes).filter((k) => constants.propertiesTypes[k] === 'pair'), ['userProperties'])
  t.equal(constants.properties.userProperties, 0x26)
  const parser = mqttPacket.parser({ protocolVersion: 5 }) as unknown as Record<string, unknown> & { on(e: string, fn: (p: unknown) => void): void, parse(b: Buffer): void }
  const pairs: unknown[] = []
  const results: unknown[] = []
  const pair = parser._parseStringPair as () => unknown
  const props = parser._parseProperties as () => unknown
  parser._parseStringPair = function (this: unknown) { const p = pair.call(this); pairs.push(p); return p }
  parser._parseProperties = function (this: unknown) { const r = props.call(this); results.push(r); return r }
  const packets: Array<{ properties?: unknown }> = []
  parser.on('packet', (p) => packets.push(p as { properties?: unknown }))
  parser.parse(PUBLISH)
  t.same(pairs, [{ name: 'a', value: '2' }, { name: 'c', value: '3' }, { name: 'a', value: '1' }], 'one call per pair, in wire order, {name, value}')
  t.equal(results.length, 1)
  t.equal(results[0], packets[0]?.properties, '_parseProperties returns the object that becomes packet.properties')
  t.same(packets[0]?.properties, { userProperties: { a: ['2', '1'], c: '3' } }, 'a repeated name grouped (the order lost: why the patch exists)')
})

t.test('mqtt-packet writer: userProperties as an array of objects is written in array order, with its length', async (t) => {
  const packet = { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { userProperties: [{ a: '2' }, { c: '3' }, { a: '1' }] } }
  t.same(generate(packet, { protocolVersion: 5 }), PUBLISH)
  t.same(generate({ ...packet, properties: { userProperties: { a: ['2', '1'], c: '3' } } }, { protocolVersion: 5 }).length, PUBLISH.length, 'the object form has the same length')
})

t.test('msgpack-lite drops Symbol keys; the Redis persistence and emitter call encode/decode on the module object', async (t) => {
  const sym = Symbol('x')
  const o = Object.assign({ a: '1' }, { [sym]: [1] })
  t.same(msgpack.decode(msgpack.encode(o)), { a: '1' })
  t.equal((msgpack.decode(msgpack.encode(o)) as Record<symbol, unknown>)[sym], undefined, 'the symbol is not serialized (why the order travels as a field)')
  for (const file of ['aedes-persistence-redis/asyncPersistence.js', 'mqemitter-redis/mqemitter-redis.js']) {
    const text = readFileSync(require.resolve(file), 'utf8')
    t.match(text, /const msgpack = require\('msgpack-lite'\)/, `${file} requires the module`)
    t.match(text, /msgpack\.encode\(/, `${file} looks encode up at each call`)
    t.match(text, /msgpack\.decode\(/, `${file} looks decode up at each call`)
  }
})

t.test('aedes-packet copies properties by reference (the order rides on the object)', async (t) => {
  const properties = { userProperties: { a: '1' } }
  t.equal(new Packet({ cmd: 'publish', topic: 't', properties }).properties, properties)
})

t.test('Aedes: disconnect() is a prototype method that writes the DISCONNECT before it returns and closes a turn later with conn.destroy()', async (t) => {
  const broker = new Aedes()
  await broker.listen()
  const clients: Client[] = []
  const server = createServer((socket) => { clients.push(broker.handle(socket) as unknown as Client) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.close(); broker.close(() => resolve()) }))
  const socket: Socket = await rawSocket(t, (server.address() as AddressInfo).port)
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60, clean: true, clientId: 'pin-d' }, { protocolVersion: 5 }))
  const c = await waitFor(() => clients.find((x) => (x as unknown as { connected: boolean }).connected), 5000, 'connected')
  const client = c as unknown as Record<string, unknown> & { conn: Socket & Record<string, unknown>, disconnect(o: object, done: () => void): void }
  t.notOk(Object.prototype.hasOwnProperty.call(client, 'disconnect'), 'disconnect is not an own field (disconnect-flush.ts shadows it)')
  t.equal(typeof client.pause, 'function', 'client.pause')
  const writes: unknown[] = []
  const destroys: unknown[][] = []
  const write = client.conn.write.bind(client.conn)
  const destroy = client.conn.destroy.bind(client.conn)
  client.conn.write = ((chunk: unknown, ...rest: unknown[]) => { writes.push(chunk); return (write as (...a: unknown[]) => boolean)(chunk, ...rest) }) as never
  client.conn.destroy = ((...args: unknown[]) => { destroys.push(args); return destroy(...(args as [Error?])) }) as never
  let done = false
  client.disconnect({ reasonCode: 0x98 }, () => { done = true })
  t.ok(writes.length > 0, 'the DISCONNECT is written synchronously')
  t.equal(destroys.length, 0, 'not closed yet')
  await waitFor(() => done, 5000, 'closed')
  t.same(destroys, [[]], 'closed with conn.destroy(), no error')
})
