/**
 * MQTT 5 shared subscriptions `$share/{ShareName}/{filter}` [MQTT-4.8.2]
 * (issue 20), over real sockets: mqtt.js v5 (and 3.1.1) clients, raw v5
 * packets where a case needs the SUBACK or CONNACK itself, and mosquitto_sub
 * as a third-party member. "Nothing more arrived" is proved with a barrier
 * message every member also subscribes to, published after the others.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import mqttPacket from 'mqtt-packet'
import type { IClientOptions, MqttClient } from 'mqtt'
import { disconnected, publishFromBroker, startBroker, subscribed } from '../helpers/broker.js'
import { aclFile } from '../helpers/auth.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { metricValue } from '../support/prom-text.js'

import type { Teardown } from '../support/teardown.js'
import { raw5, type Raw5 } from '../support/parsed-mqtt5.js'

const v5 = { protocolVersion: 5 as const }

interface Got { topic: string, payload: string, qos: number, retain: boolean }

/** A client that collects what it gets, subscribed to `filters` (each at `qos`) and to `barrier/#`. */
async function member (t: Teardown, url: string, clientId: string, filters: string[], qos: 0 | 1 | 2 = 1,
  options: IClientOptions = v5): Promise<{ client: MqttClient, got: Got[], payloads: () => string[] }> {
  const client = await connectClient(t, url, { clientId, ...options })
  const got: Got[] = []
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }))
  for (const filter of filters) {
    const granted = await client.subscribeAsync(filter, { qos })
    if ((granted[0]?.qos ?? 0x80) >= 0x80) throw new Error(`${filter} refused: ${String(granted[0]?.qos)}`)
  }
  await client.subscribeAsync('barrier/#', { qos: 1 })
  return { client, got, payloads: () => got.filter((m) => !m.topic.startsWith('barrier/')).map((m) => m.payload) }
}

/** Publish `barrier/<n>` (QoS 1) and wait until every one of `members` has it. */
let barriers = 0
async function barrier (publisher: MqttClient, ...members: Array<{ got: Got[] }>): Promise<void> {
  const topic = `barrier/${++barriers}`
  await publisher.publishAsync(topic, 'barrier', { qos: 1 })
  await waitFor(() => members.every((m) => m.got.some((g) => g.topic === topic)), 10_000, topic)
}

async function suback (raw: Raw5, messageId: number, subscriptions: mqttPacket.ISubscription[]): Promise<mqttPacket.ISubackPacket> {
  raw.send({ cmd: 'subscribe', messageId, subscriptions })
  return await waitFor(() => raw.packets.find((p) => p.cmd === 'suback' && p.messageId === messageId), 5000, `SUBACK ${messageId}`) as mqttPacket.ISubackPacket
}

const count = (values: string[], of: string): number => values.filter((v) => v === of).length

t.test('CONNACK says Shared Subscription Available and a $share/ filter is granted its QoS', async (t) => {
  const broker = await startBroker(t)
  const raw = await raw5(t, broker.ports.mqtt, { clientId: 'share-connack' })
  t.equal(raw.connack.properties?.sharedSubscriptionAvailable, true, 'Shared Subscription Available 1 [MQTT-3.2.2-13]')
  const ack = await suback(raw, 1, [{ topic: '$share/g/s0/t', qos: 1 }])
  t.same(ack.granted, [1], 'QoS 1 granted')
  t.equal(await metricValue(broker.metrics, 'vigil_shared_dropped_total'), 0, 'the drop counter is there at 0')
})

t.test('each message goes to exactly one member of the group, in turn', async (t) => {
  const broker = await startBroker(t)
  const a = await member(t, broker.url, 'rr-a', ['$share/g/s1/t'])
  const b = await member(t, broker.url, 'rr-b', ['$share/g/s1/t'])
  const pub = await connectClient(t, broker.url, v5)
  const sent = Array.from({ length: 10 }, (_, n) => `m${n}`)
  for (const m of sent) await pub.publishAsync('s1/t', m, { qos: 1 })
  await barrier(pub, a, b)
  t.same([...a.payloads(), ...b.payloads()].sort(), [...sent].sort(), 'every message once, in the whole group')
  t.equal(a.payloads().length, 5, 'half to one member')
  t.equal(b.payloads().length, 5, 'half to the other')
})

t.test('two groups on one filter each get every message, and a plain subscription beside them gets its own copy', async (t) => {
  const broker = await startBroker(t)
  const g1a = await member(t, broker.url, 'two-1a', ['$share/one/s2/#'])
  const g1b = await member(t, broker.url, 'two-1b', ['$share/one/s2/#'])
  const g2 = await member(t, broker.url, 'two-2', ['$share/two/s2/#'])
  const plain = await member(t, broker.url, 'two-plain', ['s2/#'])
  const pub = await connectClient(t, broker.url, v5)
  for (const m of ['x', 'y', 'z', 'w']) await pub.publishAsync('s2/t', m, { qos: 1 })
  await barrier(pub, g1a, g1b, g2, plain)
  t.same([...g1a.payloads(), ...g1b.payloads()].sort(), ['w', 'x', 'y', 'z'], 'group one: each once')
  t.same(g2.payloads().sort(), ['w', 'x', 'y', 'z'], 'group two (one member): all of them')
  t.same(plain.payloads().sort(), ['w', 'x', 'y', 'z'], 'the plain subscription: all of them')
})

t.test('an invalid ShareName gets SUBACK 0x8F with a Reason String, at its place; the rest are granted and the connection stays', async (t) => {
  const broker = await startBroker(t)
  const raw = await raw5(t, broker.ports.mqtt, { clientId: 'share-invalid' })
  const ack = await suback(raw, 7, [
    { topic: 'plain/t', qos: 1 },
    { topic: '$share//s3/t', qos: 1 },
    { topic: '$share/g+/s3/t', qos: 1 },
    { topic: '$share/g', qos: 0 },
    { topic: '$share/ok/s3/t', qos: 1 }
  ] as mqttPacket.ISubscription[])
  t.same(ack.granted, [1, 0x8f, 0x8f, 0x8f, 1], 'codes in filter order [MQTT-4.8.2-1] [MQTT-4.8.2-2]')
  t.match(ack.properties?.reasonString, /ShareName/, 'the Reason String says why')
  raw.send({ cmd: 'pingreq' })
  await waitFor(() => raw.packets.find((p) => p.cmd === 'pingresp'), 5000, 'PINGRESP: still connected')
  await publishFromBroker(broker, 's3/t', 'to the valid one')
  await waitFor(() => raw.packets.find((p) => p.cmd === 'publish' && p.topic === 's3/t'), 5000, 'the valid shared subscription works')
})

t.test('a 3.1.1 client may join a group too; an invalid ShareName gets 0x80', async (t) => {
  const broker = await startBroker(t)
  const old = await member(t, broker.url, 'v4-member', ['$share/mix/s4/t'], 1, { protocolVersion: 4 })
  const fresh = await member(t, broker.url, 'v5-member', ['$share/mix/s4/t'])
  const refused = await old.client.subscribeAsync('$share//s4/t', { qos: 1 }).catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted?.map((qos) => ({ qos })) ?? [])
  t.equal(refused[0]?.qos, 0x80, 'refused with the 3.1.1 failure code')
  const pub = await connectClient(t, broker.url, v5)
  for (const m of ['1', '2', '3', '4']) await pub.publishAsync('s4/t', m, { qos: 1 })
  await barrier(pub, old, fresh)
  t.same([...old.payloads(), ...fresh.payloads()].sort(), ['1', '2', '3', '4'], 'each once across both')
  t.equal(old.payloads().length, 2, 'the 3.1.1 member had its turns')
})

t.test('No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82 [MQTT-3.8.3-4]', async (t) => {
  const broker = await startBroker(t)
  const raw = await raw5(t, broker.ports.mqtt, { clientId: 'share-nl' })
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/s5/t', qos: 1, nl: true }] } as Partial<mqttPacket.Packet>)
  await raw.closed
  const disconnect = raw.packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined
  t.equal(disconnect?.reasonCode, 0x82, 'DISCONNECT 0x82')
  t.notOk(raw.packets.some((p) => p.cmd === 'suback'), 'no SUBACK')
})

t.test('UNSUBSCRIBE and a member leaving take it out of the turn', async (t) => {
  const broker = await startBroker(t)
  const a = await member(t, broker.url, 'out-a', ['$share/g/s6/t'])
  const b = await member(t, broker.url, 'out-b', ['$share/g/s6/t'])
  const c = await member(t, broker.url, 'out-c', ['$share/g/s6/t'])
  const pub = await connectClient(t, broker.url, v5)
  const unsuback = await a.client.unsubscribeAsync('$share/g/s6/t')
  t.same((unsuback as { reasonCode?: number } | undefined)?.reasonCode ?? 0, 0, 'UNSUBACK success')
  for (const m of ['1', '2', '3', '4']) await pub.publishAsync('s6/t', m, { qos: 1 })
  await barrier(pub, a, b, c)
  t.same(a.payloads(), [], 'nothing to the member that unsubscribed')
  t.same([...b.payloads(), ...c.payloads()].sort(), ['1', '2', '3', '4'], 'each once to the other two')
  const cGone = disconnected(broker, 'out-c')
  c.client.end()
  await cGone
  for (const m of ['5', '6', '7']) await pub.publishAsync('s6/t', m, { qos: 1 })
  await barrier(pub, a, b)
  t.same(b.payloads().slice(-3), ['5', '6', '7'], 'all to the one left once the other disconnected')
  t.same(a.payloads(), [], 'still nothing to the one that unsubscribed')
})

t.test('each member gets the QoS it was granted, never more [MQTT-3.8.4-8]', async (t) => {
  const broker = await startBroker(t)
  const zero = await member(t, broker.url, 'qos-0', ['$share/q/s7/t'], 0)
  const one = await member(t, broker.url, 'qos-1', ['$share/q/s7/t'], 1)
  const pub = await connectClient(t, broker.url, v5)
  for (const m of ['a', 'b', 'c', 'd']) await pub.publishAsync('s7/t', m, { qos: 2 })
  await barrier(pub, zero, one)
  const q = (m: { got: Got[] }): number[] => m.got.filter((g) => g.topic === 's7/t').map((g) => g.qos)
  t.same(q(zero), [0, 0], 'QoS 2 messages reach the QoS 0 member at QoS 0')
  t.same(q(one), [1, 1], 'and the QoS 1 member at QoS 1')
})

t.test('a message through a shared subscription carries its Subscription Identifier [MQTT-3.3.4-3]', async (t) => {
  const broker = await startBroker(t)
  const client = await connectClient(t, broker.url, { ...v5, clientId: 'sid-member' })
  const ids: unknown[] = []
  client.on('message', (_topic, _payload, packet) => ids.push(packet.properties?.subscriptionIdentifier))
  await client.subscribeAsync('$share/sid/s16/t', { qos: 1, properties: { subscriptionIdentifier: 7 } })
  await client.subscribeAsync('s16/other', { qos: 1, properties: { subscriptionIdentifier: 8 } })
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('s16/t', 'x', { qos: 1 })
  await pub.publishAsync('s16/other', 'y', { qos: 1 })
  await waitFor(() => ids.length >= 2, 5000, 'both messages')
  t.same(ids, [7, 8], 'the shared subscription\'s identifier, then the plain one\'s')
})

t.test('retained messages are not sent when a shared subscription is made', async (t) => {
  const broker = await startBroker(t)
  await publishFromBroker(broker, 's8/kept', 'retained', { retain: true })
  const plain = await member(t, broker.url, 'ret-plain', ['s8/#'])
  await waitFor(() => plain.got.some((g) => g.retain), 5000, 'the retained message at a plain subscriber')
  const shared = await member(t, broker.url, 'ret-shared', ['$share/r/s8/#'])
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('s8/live', 'live', { qos: 1 })
  await barrier(pub, shared)
  t.same(shared.payloads(), ['live'], 'only the live message, no retained one')
})

t.test('a filter starting with a wildcard takes no $ topic through a group [MQTT-4.7.2-1]', async (t) => {
  const broker = await startBroker(t)
  const all = await member(t, broker.url, 'dollar-all', ['$share/d/#'])
  const watcher = await member(t, broker.url, 'dollar-watch', ['$liveness/dollar-dev'])
  const pub = await connectClient(t, broker.url, { ...v5, clientId: 'dollar-dev' })
  await waitFor(() => watcher.got.some((g) => g.topic === '$liveness/dollar-dev'), 5000, 'the device\'s $liveness status routed')
  await pub.publishAsync('s9/t', 'plain', { qos: 1 })
  await barrier(pub, all)
  t.same(all.got.filter((g) => g.topic.startsWith('$')), [], 'no $SYS or $liveness message')
  t.ok(all.payloads().includes('plain'), 'the plain message came through the group')
})

t.test('a persistent member keeps its shared subscription; with nobody connected QoS 1 waits in one session, QoS 0 is counted as dropped', async (t) => {
  const broker = await startBroker(t)
  const session = { ...v5, clean: false, properties: { sessionExpiryInterval: 300 } }
  const a = await member(t, broker.url, 'keep-a', ['$share/k/s10/t'], 1, session)
  const b = await member(t, broker.url, 'keep-b', ['$share/k/s10/t'])
  const pub = await connectClient(t, broker.url, v5)
  const aGone = disconnected(broker, 'keep-a')
  a.client.end()
  await aGone
  for (const m of ['1', '2']) await pub.publishAsync('s10/t', m, { qos: 1 })
  await barrier(pub, b)
  t.same(b.payloads(), ['1', '2'], 'the connected member takes every message while the other is away')
  const bGone = disconnected(broker, 'keep-b')
  b.client.end()
  await bGone
  await pub.publishAsync('s10/t', 'queued', { qos: 1 })
  await pub.publishAsync('s10/t', 'lost', { qos: 0 })
  await waitFor(async () => await metricValue(broker.metrics, 'vigil_shared_dropped_total') === 1, 5000, 'the QoS 0 one counted')
  t.equal(await metricValue(broker.metrics, 'vigil_shared_queued_total'), 1, 'the QoS 1 one queued in the offline session')
  const back = await member(t, broker.url, 'keep-a', [], 1, session)
  await waitFor(() => back.payloads().includes('queued'), 5000, 'the queued message at reconnect')
  await pub.publishAsync('s10/t', 'after', { qos: 1 })
  await barrier(pub, back)
  t.same(back.payloads(), ['queued', 'after'], 'the restored shared subscription delivers again; the QoS 0 one never came')
})

t.test('a 3.1.1 member with CleanSession 0 keeps its shared subscription and its queued message', async (t) => {
  const broker = await startBroker(t)
  const session = { protocolVersion: 4 as const, clean: false }
  const away = await member(t, broker.url, 'v4-keep', ['$share/k4/s15/t'], 1, session)
  const gone = disconnected(broker, 'v4-keep')
  away.client.end()
  await gone
  const pub = await connectClient(t, broker.url, v5)
  await pub.publishAsync('s15/t', 'kept', { qos: 1 })
  await waitFor(async () => await metricValue(broker.metrics, 'vigil_shared_queued_total') === 1, 5000, 'queued in the 3.1.1 session')
  const back = await member(t, broker.url, 'v4-keep', [], 1, session)
  await waitFor(() => back.payloads().includes('kept'), 5000, 'the queued message at reconnect')
  await pub.publishAsync('s15/t', 'live', { qos: 1 })
  await barrier(pub, back)
  t.same(back.payloads(), ['kept', 'live'], 'queued, then live through the restored subscription')
})

t.test('a session taken over keeps one member: the new connection if it resumed, none if it started clean', async (t) => {
  const broker = await startBroker(t)
  const session = { ...v5, clean: false, properties: { sessionExpiryInterval: 300 } }
  const pub = await connectClient(t, broker.url, v5)
  const old = await member(t, broker.url, 'take-a', ['$share/tk/s14/t'], 1, session)
  const resumed = await member(t, broker.url, 'take-a', [], 1, session)
  await waitFor(() => !old.client.connected, 5000, 'the old connection taken over')
  for (const m of ['1', '2']) await pub.publishAsync('s14/t', m, { qos: 1 })
  await barrier(pub, resumed)
  t.same(resumed.payloads(), ['1', '2'], 'the resumed connection is the member')
  const fresh = await member(t, broker.url, 'take-a', [], 1, { ...v5, clean: true })
  await waitFor(() => !resumed.client.connected, 5000, 'taken over again')
  await pub.publishAsync('s14/t', 'nobody', { qos: 1 })
  await barrier(pub, fresh)
  t.same(fresh.payloads(), [], 'a clean start ended the membership')
  t.equal(await metricValue(broker.metrics, 'vigil_shared_queued_total'), 0, 'nothing queued for a session that is gone')
  t.equal(await metricValue(broker.metrics, 'vigil_shared_dropped_total'), 0, 'and no group left to drop it')
})

t.test('the ACL judges the real filter of a shared subscription', async (t) => {
  const broker = await startBroker(t, { auth: { aclFile: aclFile(t, 'topic readwrite s11/open/#\ntopic readwrite barrier/#\ntopic read $share/#\n'), allowAnonymous: true } })
  const raw = await raw5(t, broker.ports.mqtt, { clientId: 'acl-member' })
  const ack = await suback(raw, 1, [{ topic: '$share/g/s11/open/t', qos: 1 }, { topic: '$share/g/s11/secret/t', qos: 1 }])
  t.same(ack.granted, [1, 0x87], 'granted where the real filter is readable, 0x87 where it is not (a rule on $share/# does not open it)')
  t.match(ack.properties?.reasonString, /s11\/secret\/t/, 'the refusal names the real filter')
})

t.test('mosquitto_sub (MQTT 5) shares a group with an mqtt.js member', async (t) => {
  const broker = await startBroker(t)
  const js = await member(t, broker.url, 'mix-js', ['$share/third/s12/t'])
  const joined = subscribed(broker, 'mix-mosq')
  const sub = spawn('mosquitto_sub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(broker.ports.mqtt), '-i', 'mix-mosq', '-q', '1',
    '-t', '$share/third/s12/t', '-t', 'barrier/#', '-F', '%t %p'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { sub.kill() })
  let out = ''
  sub.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await joined
  const pub = await connectClient(t, broker.url, v5)
  for (const m of ['p1', 'p2', 'p3', 'p4']) await pub.publishAsync('s12/t', m, { qos: 1 })
  const topic = `barrier/${++barriers}`
  await pub.publishAsync(topic, 'barrier', { qos: 1 })
  await waitFor(() => out.includes(topic) && js.got.some((g) => g.topic === topic), 10_000, 'the barrier at both')
  const mosq = out.split('\n').filter((l) => l.startsWith('s12/t ')).map((l) => l.slice('s12/t '.length))
  t.same([...mosq, ...js.payloads()].sort(), ['p1', 'p2', 'p3', 'p4'], 'each once across both members')
  t.equal(mosq.length, 2, 'mosquitto_sub had its two turns')
})
