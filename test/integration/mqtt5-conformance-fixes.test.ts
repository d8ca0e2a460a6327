/**
 * The MQTT 5 behaviours Vigil fixed after the conformance run beside
 * Mosquitto 2 (issue 20, test/conformance5/), each over a real socket: mqtt.js
 * v5 clients, and raw v5 packets (mqtt-packet) where a case needs control
 * mqtt.js does not give (not acknowledging, flooding, the CONNACK itself).
 */
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { startBroker } from '../helpers/broker.js'
import { aclFile } from '../helpers/auth.js'
import { connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { metricValue } from '../support/prom-text.js'
import { startRedis } from '../helpers/redis.js'

import type { Teardown } from '../support/teardown.js'
import { raw5 } from '../support/parsed-mqtt5.js'

const v5 = { protocolVersion: 5 as const }

interface Message { topic: string, payload: string, packet: IPublishPacket }

async function watch5 (t: Teardown, url: string, topics: string[], options: Record<string, unknown> = {}): Promise<{ client: MqttClient, received: Message[] }> {
  const client = await connectClient(t, url, { ...v5, ...options })
  const received: Message[] = []
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), packet }))
  await subscribe(client, topics, 1)
  return { client, received }
}

t.test('topic aliases: CONNACK offers 10, subscribers get the real topic, and the ACL and owned topics judge the real topic', async (t) => {
  const broker = await startBroker(t, { auth: { aclFile: aclFile(t, 'topic readwrite ok/#\ntopic read $liveness/#\n'), allowAnonymous: true } })
  const sub = await watch5(t, broker.url, ['ok/#'])
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'alias-dev' })
  t.equal(dev.connack.properties?.topicAliasMaximum, 10, 'Topic Alias Maximum 10 [MQTT-3.2.2-17]')
  dev.send({ cmd: 'publish', topic: 'ok/a', payload: Buffer.from('set'), qos: 1, messageId: 1, properties: { topicAlias: 1 } })
  dev.send({ cmd: 'publish', topic: '', payload: Buffer.from('used'), qos: 1, messageId: 2, properties: { topicAlias: 1 } })
  await waitFor(() => sub.received.length >= 2, 5000, 'both at the subscriber')
  t.same(sub.received.map((m) => [m.topic, m.payload]), [['ok/a', 'set'], ['ok/a', 'used']], 'delivered on the aliased topic')
  t.equal(sub.received[1]!.packet.properties?.topicAlias, undefined, 'the publisher\'s alias is not forwarded')
  // The ACL sees the topic behind the alias: PUBACK 0x87, connection kept.
  dev.send({ cmd: 'publish', topic: 'secret/x', payload: Buffer.from('no'), qos: 1, messageId: 3, properties: { topicAlias: 2 } })
  dev.send({ cmd: 'publish', topic: '', payload: Buffer.from('still no'), qos: 1, messageId: 4, properties: { topicAlias: 2 } })
  const acks = await waitFor(() => { const a = dev.packets.filter((p) => p.cmd === 'puback'); return a.length >= 4 ? a : null }, 5000, '4 PUBACK') as mqttPacket.IPubackPacket[]
  t.same(acks.map((a) => [a.messageId, a.reasonCode ?? 0]), [[1, 0], [2, 0], [3, 0x87], [4, 0x87]], 'the aliased denied topic is refused like the plain one')
  dev.send({ cmd: 'publish', topic: 'ok/barrier', payload: Buffer.from('barrier'), qos: 1, messageId: 5 })
  await waitFor(() => sub.received.some((m) => m.payload === 'barrier'), 5000, 'the barrier')
  t.notOk(sub.received.some((m) => m.payload === 'no' || m.payload === 'still no'), 'nothing denied was delivered')
})

t.test('a status topic the broker owns, reached through a Topic Alias, still ends the connection with DISCONNECT 0x87', async (t) => {
  const broker = await startBroker(t)
  const status = await watch5(t, broker.url, ['$liveness/#'])
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'alias-spoof' })
  dev.send({ cmd: 'publish', topic: 'devices/alias-spoof/x', payload: Buffer.from('fine'), qos: 1, messageId: 1, properties: { topicAlias: 1 } })
  dev.send({ cmd: 'publish', topic: '$liveness/victim', payload: Buffer.from('{}'), qos: 0, properties: { topicAlias: 2 } })
  await dev.closed
  const disconnect = dev.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined
  t.equal(disconnect?.reasonCode, 0x87, 'DISCONNECT 0x87 for the owned topic behind the alias')
  t.notOk(status.received.some((m) => m.topic === '$liveness/victim'), 'no status was spoofed')
})

t.test('a Topic Alias above the maximum gets DISCONNECT 0x94 [MQTT-3.3.2-9]', async (t) => {
  const broker = await startBroker(t)
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'alias-high' })
  dev.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 1, properties: { topicAlias: 11 } })
  await dev.closed
  t.equal((dev.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined)?.reasonCode, 0x94)
  t.notOk(dev.packets.some((p) => p.cmd === 'puback'), 'not acknowledged')
})

t.test('CONNACK advertises mqtt.maxPacketSize; an MQTT 5 PUBLISH over it gets DISCONNECT 0x95 and is not delivered', async (t) => {
  const broker = await startBroker(t, { mqtt: { maxPacketSize: 1024 } })
  const sub = await watch5(t, broker.url, ['big/#'])
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'big-dev' })
  t.equal(dev.connack.properties?.maximumPacketSize, 1024, 'Maximum Packet Size [MQTT-3.2.2-15]')
  dev.send({ cmd: 'publish', topic: 'big/a', payload: Buffer.alloc(2000, 0x2e), qos: 1, messageId: 1 })
  await dev.closed
  t.equal((dev.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined)?.reasonCode, 0x95, 'DISCONNECT 0x95 packet too large')
  const probe = await connectClient(t, broker.url, v5)
  await probe.publishAsync('big/barrier', 'barrier', { qos: 1 })
  await waitFor(() => sub.received.some((m) => m.payload === 'barrier'), 5000, 'the barrier')
  t.same(sub.received.map((m) => m.topic), ['big/barrier'], 'the oversized PUBLISH was not delivered')
})

t.test('a PUBLISH over the subscriber\'s own Maximum Packet Size is not sent to it, and is counted [MQTT-3.1.2-24]', async (t) => {
  const broker = await startBroker(t)
  t.equal(await metricValue(broker.metrics, 'vigil_mqtt5_oversized_dropped_total'), 0, 'present at 0')
  const small = await raw5(t, broker.ports.mqtt, { clientId: 'small-sub', properties: { maximumPacketSize: 128 } })
  small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mps/#', qos: 1 }] })
  await waitFor(() => small.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK')
  const other = await watch5(t, broker.url, ['mps/#'])
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('mps/big', Buffer.alloc(200, 0x2e), { qos: 1 })
  await pub.publishAsync('mps/small', 'small', { qos: 1 })
  const got = await waitFor(() => { const p = small.packets.filter((x) => x.cmd === 'publish'); return p.length > 0 ? p : null }, 5000, 'a PUBLISH') as mqttPacket.IPublishPacket[]
  t.same(got.map((p) => p.topic), ['mps/small'], 'only the one that fits reached it, the barrier after the big one')
  await waitFor(() => other.received.length >= 2, 5000, 'the other subscriber')
  t.same(other.received.map((m) => m.topic), ['mps/big', 'mps/small'], 'a subscriber without the limit gets both')
  t.equal(await metricValue(broker.metrics, 'vigil_mqtt5_oversized_dropped_total'), 1, 'the drop is counted')
})

t.test('a message matching two subscriptions with identifiers carries both identifiers [MQTT-3.3.4-4]', async (t) => {
  const broker = await startBroker(t)
  const client = await connectClient(t, broker.url, v5)
  const received: IPublishPacket[] = []
  client.on('message', (_topic, _payload, packet) => received.push(packet))
  await client.subscribeAsync('ids/a', { qos: 1, properties: { subscriptionIdentifier: 2 } })
  await client.subscribeAsync('ids/#', { qos: 1, properties: { subscriptionIdentifier: 3 } })
  await client.subscribeAsync('ids/b', { qos: 1 })
  await client.publishAsync('ids/a', 'both', { qos: 1 })
  await client.publishAsync('ids/b', 'one', { qos: 1 })
  await waitFor(() => received.length >= 2, 5000, 'both messages')
  const ids = (p: IPublishPacket): number[] => [p.properties?.subscriptionIdentifier ?? []].flat().sort()
  t.same(received.map((p) => [p.topic, ids(p)]), [['ids/a', [2, 3]], ['ids/b', [3]]], 'every matching identifier, on one copy each')
})

t.test('Clean Start 0 without a Session Expiry Interval resumes the session with its queued messages [MQTT-3.1.2-5]', async (t) => {
  const broker = await startBroker(t)
  const first = await connectClient(t, broker.url, { ...v5, clientId: 'resume-dev', clean: true, properties: { sessionExpiryInterval: 60 } })
  await first.subscribeAsync('resume/#', { qos: 1 })
  await first.endAsync()
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('resume/a', 'queued 1', { qos: 1 })
  await pub.publishAsync('resume/b', 'queued 2', { qos: 2 })
  // Clean Start 0 and no property: the session resumes, and ends with this connection.
  const again = await raw5(t, broker.ports.mqtt, { clientId: 'resume-dev', clean: false })
  t.equal(again.connack.sessionPresent, true, 'Session Present 1')
  const got = await waitFor(() => { const p = again.packets.filter((x) => x.cmd === 'publish'); return p.length >= 2 ? p : null }, 5000, 'the queued messages') as mqttPacket.IPublishPacket[]
  t.same(got.map((p) => p.payload.toString()).sort(), ['queued 1', 'queued 2'], 'both delivered')
  again.send({ cmd: 'disconnect', reasonCode: 0 })
  await again.closed
  const third = await raw5(t, broker.ports.mqtt, { clientId: 'resume-dev', clean: false })
  t.equal(third.connack.sessionPresent, false, 'and the session ended with that connection [MQTT-3.1.2-23]')
})

t.test('a PUBLISH resent from the session on reconnect carries DUP 1 with the same Packet Identifier [MQTT-3.3.1-1]', async (t) => {
  const broker = await startBroker(t)
  const props = { properties: { sessionExpiryInterval: 60 } }
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'dup-dev', ...props })
  dev.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/#', qos: 1 }] })
  await waitFor(() => dev.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK')
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('dup/a', 'unacked', { qos: 1 })
  const sent = await waitFor(() => dev.packets.find((p) => p.cmd === 'publish'), 5000, 'the first send') as mqttPacket.IPublishPacket
  t.equal(sent.dup, false, 'first sent with DUP 0')
  dev.socket.destroy()   // never acknowledged
  await dev.closed
  const again = await raw5(t, broker.ports.mqtt, { clientId: 'dup-dev', clean: false, ...props })
  const resent = await waitFor(() => again.packets.find((p) => p.cmd === 'publish'), 5000, 'the resend') as mqttPacket.IPublishPacket
  t.equal(resent.dup, true, 'resent with DUP 1')
  t.equal(resent.messageId, sent.messageId, 'the same Packet Identifier')
  t.equal(resent.payload.toString(), 'unacked')
  again.send({ cmd: 'puback', messageId: resent.messageId })
})

t.test('more QoS 2 PUBLISH awaiting PUBREL than Receive Maximum ends an MQTT 5 connection, with DISCONNECT 0x93 when it gets out', async (t) => {
  const broker = await startBroker(t)
  const dev = await raw5(t, broker.ports.mqtt, { clientId: 'flood-dev' })
  const most = dev.connack.properties?.receiveMaximum ?? 0
  t.equal(most, 1000, 'Receive Maximum 1000')
  const bytes: Buffer[] = []
  for (let id = 1; id <= most + 1; id++) bytes.push(mqttPacket.generate({ cmd: 'publish', topic: 'flood/q2', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false }, { protocolVersion: 5 }))
  dev.socket.write(Buffer.concat(bytes))
  await dev.closed
  const recs = dev.packets.filter((p) => p.cmd === 'pubrec').length
  t.ok(recs <= most, `${recs} PUBREC for ${most + 1} PUBLISH: the one over the window was not taken`)
  const disconnect = dev.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined
  // Under this flood the connection can close before the DISCONNECT leaves (see docs/mqtt5-conformance.md).
  if (disconnect !== undefined) t.equal(disconnect.reasonCode, 0x93, 'DISCONNECT 0x93 Receive Maximum exceeded')
  t.match(disconnect?.properties?.reasonString ?? 'QoS 2 messages already await PUBREL', /await PUBREL/, 'the Reason String says why')
})

t.test('an MQTT 5 client with Receive Maximum 2 has at most 2 unacknowledged QoS 1 PUBLISH; the rest follow its PUBACKs, in order [MQTT-3.3.4-7]', async (t) => {
  const broker = await startBroker(t)
  t.equal(await metricValue(broker.metrics, 'vigil_mqtt5_receive_maximum_dropped_total'), 0, 'present at 0')
  const slow = await raw5(t, broker.ports.mqtt, { clientId: 'rm-slow', properties: { receiveMaximum: 2 } })
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/#', qos: 1 }] })
  await waitFor(() => slow.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK')
  const other = await watch5(t, broker.url, ['rm/#'])
  const pub = await connectClient(t, broker.url, v5)
  for (const n of [1, 2, 3]) await pub.publishAsync('rm/t', `m${n}`, { qos: 1 })
  await pub.publishAsync('rm/t', 'after', { qos: 0 })
  // The broker has routed all four: a subscriber without a limit has them.
  await waitFor(() => other.received.length >= 4, 5000, 'all four at the other subscriber')
  const publishes = (): mqttPacket.IPublishPacket[] => slow.packets.filter((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket[]
  await waitFor(() => publishes().length >= 2, 5000, 'two PUBLISH')
  // A PINGRESP after the routing: everything the broker wrote before it has arrived.
  slow.send({ cmd: 'pingreq' })
  await waitFor(() => slow.packets.find((p) => p.cmd === 'pingresp'), 5000, 'PINGRESP')
  t.same(publishes().map((p) => p.payload.toString()), ['m1', 'm2'], 'two in flight, m3 and the QoS 0 one after it held')
  slow.send({ cmd: 'puback', messageId: publishes()[0]!.messageId })
  await waitFor(() => publishes().length >= 4, 5000, 'the held ones')
  t.same(publishes().map((p) => p.payload.toString()), ['m1', 'm2', 'm3', 'after'], 'released by the PUBACK, in publish order')
  t.equal(await metricValue(broker.metrics, 'vigil_mqtt5_receive_maximum_dropped_total'), 0, 'nothing dropped')
})

for (const mode of ['memory', 'redis'] as const) {
  t.test(`[${mode}] a resumed session's queued messages keep to the Receive Maximum of the new connection [MQTT-3.3.4-7]`, async (t) => {
    const redis = mode === 'redis' ? await startRedis(t) : null
    const broker = await startBroker(t, redis === null ? {} : { persistence: { redis: redis.url } })
    const session = { clientId: 'rm-resume', properties: { sessionExpiryInterval: 60, receiveMaximum: 2 } }
    const first = await raw5(t, broker.ports.mqtt, session)
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rmq/#', qos: 1 }] })
    await waitFor(() => first.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK')
    first.send({ cmd: 'disconnect', reasonCode: 0 })
    await first.closed
    const pub = await connectClient(t, broker.url, v5)
    for (const n of [1, 2, 3, 4]) await pub.publishAsync('rmq/t', `q${n}`, { qos: 1 })
    const again = await raw5(t, broker.ports.mqtt, { ...session, clean: false })
    t.equal(again.connack.sessionPresent, true, 'the session is back')
    const publishes = (): mqttPacket.IPublishPacket[] => again.packets.filter((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket[]
    await waitFor(() => publishes().length >= 2, 5000, 'two queued messages')
    // A PINGRESP comes after everything the broker wrote before it.
    again.send({ cmd: 'pingreq' })
    await waitFor(() => again.packets.find((p) => p.cmd === 'pingresp'), 5000, 'PINGRESP')
    t.same(publishes().map((p) => p.payload.toString()), ['q1', 'q2'], 'two in flight, the other two wait')
    for (const p of publishes()) again.send({ cmd: 'puback', messageId: p.messageId })
    await waitFor(() => publishes().length >= 4, 5000, 'the rest after the PUBACKs')
    t.same(publishes().map((p) => p.payload.toString()), ['q1', 'q2', 'q3', 'q4'], 'in order')
    for (const p of publishes().slice(2)) again.send({ cmd: 'puback', messageId: p.messageId })
    again.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await again.closed
  })
}
