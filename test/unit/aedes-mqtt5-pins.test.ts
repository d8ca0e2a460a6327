/**
 * What the MQTT 5 refusal patches in broker/aedes/ rely on, pinned on a bare
 * Aedes from node_modules (no Vigil around it) over real sockets, with raw
 * MQTT 5 packets:
 * - connack-reasons.ts: an authenticate refusal is written by the patch and
 *   Aedes, finding `connecting` cleared, writes no second CONNACK;
 * - suback-reasons.ts: Aedes' write looks `writeToStream` up on mqtt-packet's
 *   module object at every write (so the swap reaches the SUBACK);
 * - regressions.ts 5: a several-filter SUBSCRIBE with `__proto__` gets its
 *   SUBACK through the shield (without it the beta's `_dedupe` throws a
 *   TypeError out of the connection's stack).
 * - shared-subscriptions.ts: the beta refuses a `$share/` filter by its
 *   prefix only (a stand-in passes) and advertises Shared Subscription
 *   Available 0, which the patch turns into 1.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { Registry } from 'prom-client'
import memoryPersistence from 'aedes-persistence'
import { explainConnackRefusals, explainSubscribeRefusals, installSharedSubscriptions, installStrictPackets, unshieldProtoFilters } from '../../broker/aedes/index.js'
import { rawSocket, waitFor } from '../helpers/clients.js'

import type { Teardown } from '../support/teardown.js'

const v5 = { protocolVersion: 5 as const }

async function bare (t: Teardown, setup: (broker: Aedes) => void, persistence?: object): Promise<number> {
  const broker = new Aedes({ heartbeatInterval: 60_000, ...(persistence === undefined ? {} : { persistence: persistence as never }) })
  setup(broker)
  await broker.listen()
  const sockets = new Set<Socket>()
  const server = createServer((socket) => { sockets.add(socket); broker.handle(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

async function raw5 (t: Teardown, port: number, clientId: string, onSocket?: (s: Socket) => void): Promise<{ socket: Socket, got: mqttPacket.Packet[] }> {
  const socket = await rawSocket(t, port)
  onSocket?.(socket)
  const got: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser(v5)
  parser.on('packet', (p) => got.push(p))
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 0, clean: true, clientId } as mqttPacket.IConnectPacket, v5))
  await waitFor(() => got.some((p) => p.cmd === 'connack'), 5000, 'CONNACK')
  return { socket, got }
}

t.test('connack-reasons: the refusal CONNACK carries the Reason String, and it is the only CONNACK', async (t) => {
  const port = await bare(t, (broker) => {
    broker.authenticate = (_c, _u, _p, done) => done(Object.assign(new Error('no such user'), { returnCode: 4 }) as never, false)
    explainConnackRefusals(broker)
  })
  const { socket, got } = await raw5(t, port, 'pin-refused')
  await new Promise<void>((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()) })
  const connacks = got.filter((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket[]
  t.equal(connacks.length, 1, 'one CONNACK, then the connection closes')
  t.equal(connacks[0]!.reasonCode, 0x86)
  t.equal(connacks[0]!.properties?.reasonString, 'no such user')
})

t.test('suback-reasons: Aedes writes through mqtt-packet\'s writeToStream as it is at the time of the write', async (t) => {
  const port = await bare(t, (broker) => {
    broker.authorizeSubscribe = (_c, sub, done) => done(null, sub.topic.startsWith('no/') ? null : sub)
    explainSubscribeRefusals(broker)
  })
  const before = mqttPacket.writeToStream
  const { socket, got } = await raw5(t, port, 'pin-suback')
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'no/x', qos: 1 }, { topic: 'ok/x', qos: 1 }] } as mqttPacket.ISubscribePacket, v5))
  const suback = await waitFor(() => got.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket | undefined, 5000, 'SUBACK')
  t.same(suback.granted, [0x87, 1])
  t.equal(suback.properties?.reasonString, 'not authorized to subscribe to no/x')
  t.equal(mqttPacket.writeToStream, before, 'the original writeToStream is back once no refusal is pending')
})

t.test('regressions 5: shielded, a several-filter SUBSCRIBE with __proto__ gets its SUBACK (unshielded, the beta throws out of the connection)', async (t) => {
  // The shield as Vigil installs it: on the parser (strict-packets) and around authorizeSubscribe.
  const shielded = await bare(t, (broker) => { installStrictPackets(broker, { refused: () => {} }); unshieldProtoFilters(broker) })
  const fixed = await raw5(t, shielded, 'pin-proto-fixed')
  fixed.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '__proto__', qos: 1 }, { topic: 'a', qos: 0 }] } as mqttPacket.ISubscribePacket, v5))
  const suback = await waitFor(() => fixed.got.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket | undefined, 5000, 'SUBACK')
  t.same(suback.granted, [1, 0], 'a code per filter, in order')
})

t.test('shared-subscriptions: the beta refuses `$share/` by its prefix alone and says Shared Subscription Available 0; the stand-in passes and the CONNACK is fixed', async (t) => {
  const plain = await bare(t, () => {})
  const before = await raw5(t, plain, 'pin-share-bare')
  t.equal((before.got.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket).properties?.sharedSubscriptionAvailable, false, 'the beta advertises 0')
  before.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1 }, { topic: '\u0000share/g/x', qos: 1 }] } as mqttPacket.ISubscribePacket, v5))
  const bareAck = await waitFor(() => before.got.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket | undefined, 5000, 'SUBACK')
  t.same(bareAck.granted, [0x9e, 1], '0x9E for the prefix, the stand-in (shared-subscriptions.ts) subscribed like any filter')
  const persistence = (memoryPersistence as unknown as typeof memoryPersistence.default)()
  const vigil = await bare(t, (broker) => {
    installStrictPackets(broker, { refused: () => {} })
    installSharedSubscriptions(broker, { persistence, redis: null, registry: new Registry(), onError: (err) => { throw err } })
  }, persistence)
  const after = await raw5(t, vigil, 'pin-share')
  t.equal((after.got.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket).properties?.sharedSubscriptionAvailable, true, 'fixed to 1')
  after.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '$share/g/x', qos: 1 }, { topic: '$share/+/x', qos: 1 }] } as mqttPacket.ISubscribePacket, v5))
  const ack = await waitFor(() => after.got.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket | undefined, 5000, 'SUBACK')
  t.same(ack.granted, [1, 0x8f], 'granted, and 0x8F at the place of the invalid ShareName')
})
