/**
 * What the MQTT 5 conformance fixes in broker/aedes/ (v5-limits.ts,
 * subscription-ids.ts, session-resume.ts, receive-maximum.ts) rely on, pinned on
 * a bare Aedes from node_modules over a real socket, with no Vigil around it.
 * The first pin is the one that makes topic aliases safe to turn on: Aedes
 * resolves an alias before authorizePublish, so every hook sees the real topic.
 */
import { createServer, type AddressInfo } from 'node:net'
import { Aedes, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { advertiseV5Limits } from '../../broker/aedes/index.js'
import { rawSocket, waitFor } from '../helpers/clients.js'

import type { Teardown } from '../support/teardown.js'

async function bareAedes (t: Teardown, seen: string[]): Promise<{ broker: Aedes, port: number, clients: Client[] }> {
  const broker = new Aedes({
    authorizePublish: (_client, packet, done) => { seen.push(packet.topic); done(null) }
  })
  advertiseV5Limits(broker, 4096)
  await broker.listen()
  const clients: Client[] = []
  const server = createServer((socket) => { clients.push(broker.handle(socket) as unknown as Client) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.close(); broker.close(() => resolve()) }))
  return { broker, port: (server.address() as AddressInfo).port, clients }
}

async function raw5 (t: Teardown, port: number, connect: Partial<mqttPacket.IConnectPacket>): Promise<{ packets: mqttPacket.Packet[], send(p: object): void }> {
  const socket = await rawSocket(t, port)
  const packets: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  parser.on('packet', (p) => packets.push(p))
  socket.on('data', (d: Buffer) => parser.parse(d))
  const send = (p: object): void => { socket.write(mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 5 })) }
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60, clean: true, clientId: 'pin', ...connect })
  await waitFor(() => packets.find((p) => p.cmd === 'connack'), 5000, 'CONNACK')
  return { packets, send }
}

t.test('Aedes reads topicAliasMaximum and maximumPacketSize per CONNECT, and resolves an alias before authorizePublish', async (t) => {
  const seen: string[] = []
  const { port } = await bareAedes(t, seen)
  const c = await raw5(t, port, {})
  const connack = c.packets[0] as mqttPacket.IConnackPacket
  t.equal(connack.properties?.topicAliasMaximum, 10, 'topicAliasMaximum field, advertised')
  t.equal(connack.properties?.maximumPacketSize, 4096, 'maximumPacketSize field, advertised')
  c.send({ cmd: 'publish', topic: 'pin/a', payload: Buffer.from('1'), qos: 1, messageId: 1, properties: { topicAlias: 1 } })
  c.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, properties: { topicAlias: 1 } })
  await waitFor(() => c.packets.filter((p) => p.cmd === 'puback').length >= 2, 5000, 'two PUBACK')
  t.same(seen, ['pin/a', 'pin/a'], 'authorizePublish saw the real topic both times')
})

t.test('the client fields the fixes read are where they expect them', async (t) => {
  const { port, clients } = await bareAedes(t, [])
  const c = await raw5(t, port, { properties: { maximumPacketSize: 300 } })
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'pin/#', qos: 1 }], properties: { subscriptionIdentifier: 7 } })
  await waitFor(() => c.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK')
  const client = clients[0] as unknown as Record<string, unknown> & { _parser: { prependListener?: unknown }, subscriptions: Record<string, { si?: number }> }
  t.equal(client.maximumPacketSize, 300, 'client.maximumPacketSize from CONNECT (v5-limits.ts)')
  t.equal(typeof client._parser.prependListener, 'function', 'the parser is an EventEmitter (session-resume.ts, receive-maximum.ts)')
  t.equal(typeof client.deliverQoS, 'function', 'deliverQoS, an own field subscriptions take when made (receive-maximum.ts)')
  t.equal(client.subscriptions['pin/#']?.si, 7, 'subscriptions[filter].si (subscription-ids.ts)')
  t.equal(client.clean, true, 'clean: a field Aedes sets at CONNECT (session-resume.ts)')
})
