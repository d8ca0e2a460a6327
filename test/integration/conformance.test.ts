/**
 * Strict MQTT 3.1.1 (issue 13): the raw bytes of every case the issue lists,
 * sent over a socket to Vigil and, where `mosquitto` is installed, to a real
 * Mosquitto 2 started on a private port, side by side. "Closed" is the socket's
 * close event; "open" is a PINGRESP to a PINGREQ sent after the case, so every
 * packet before it was handled; "nothing delivered" is proved by a barrier
 * message sent after it through the same path.
 */
import t from 'tap'
import type { VigilConfigInput } from '../../config/schema.js'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { mosquittoAvailable, mosquittoVersion, startMosquitto } from '../helpers/mosquitto.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'
import {
  connect, DISCONNECT, hex, publish, puback, RawSession, subscribe as subscribePacket, unsubscribe, type Incoming
} from '../support/raw-mqtt.js'

import type { Teardown } from '../support/teardown.js'

const OK_CONNECT = connect({ clientId: 'conformance-ok' })

interface Case {
  name: string
  packets: Buffer[]
  /** What Vigil does: the CONNACK return code (null: none), and whether the connection stays open. */
  want: { connack: number | null, open: boolean, suback?: number[] }
  /** Mosquitto 2 does the same (false: it is stricter than the spec here, Vigil is not). */
  likeMosquitto: boolean
}

const closedNoConnack = { connack: null, open: false }
const afterConnect = (...packets: Buffer[]): Buffer[] => [OK_CONNECT, ...packets]

const CASES: Case[] = [
  { name: 'empty clientId with CleanSession 0 gets CONNACK 2 and is closed [MQTT-3.1.3-8]',
    packets: [connect({ clientId: '', clean: false })], want: { connack: 2, open: false }, likeMosquitto: true },
  { name: 'empty clientId with CleanSession 1 is accepted',
    packets: [connect({ clientId: '', clean: true })], want: { connack: 0, open: true }, likeMosquitto: true },
  { name: 'protocol name "MQTT" with level 3 gets CONNACK 1 and is closed [MQTT-3.1.2-2]',
    packets: [connect({ protocol: 'MQTT', level: 3, clientId: 'lvl' })], want: { connack: 1, open: false }, likeMosquitto: true },
  { name: 'protocol name "MQIsdp" with level 4 gets CONNACK 1 and is closed [MQTT-3.1.2-2]',
    packets: [connect({ protocol: 'MQIsdp', level: 4, clientId: 'lvl' })], want: { connack: 1, open: false }, likeMosquitto: true },
  { name: 'protocol name "MQIsdp" with level 3 (MQTT 3.1) is accepted',
    packets: [connect({ protocol: 'MQIsdp', level: 3, clientId: 'lvl31' })], want: { connack: 0, open: true }, likeMosquitto: true },
  { name: 'a password without a username closes the connection [MQTT-3.1.2-22]',
    packets: [connect({ clientId: 'pw', flags: 0x42, password: 'secret' })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a clientId with an invalid UTF-8 byte (0xff) closes the connection [MQTT-1.5.3-1]',
    packets: [connect({ clientId: Buffer.from([0x61, 0xff, 0x62]) })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a clientId with an encoded surrogate (ed a0 80) closes the connection [MQTT-1.5.3-1]',
    packets: [connect({ clientId: Buffer.from([0x61, 0xed, 0xa0, 0x80]) })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a clientId with an overlong encoding (c0 80) closes the connection [MQTT-1.5.3-1]',
    packets: [connect({ clientId: Buffer.from([0x61, 0xc0, 0x80]) })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a clientId with U+0000 closes the connection [MQTT-1.5.3-2]',
    packets: [connect({ clientId: Buffer.from([0x61, 0x00, 0x62]) })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a username with invalid UTF-8 closes the connection [MQTT-1.5.3-1]',
    packets: [connect({ clientId: 'user', username: Buffer.from([0xc3, 0x28]) })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a will topic with a wildcard closes the connection [MQTT-4.7.1-1]',
    packets: [connect({ clientId: 'will', will: { topic: 'a/+', payload: 'x' } })], want: closedNoConnack, likeMosquitto: true },
  { name: 'a PUBLISH topic with invalid UTF-8 closes the connection [MQTT-1.5.3-1]',
    packets: afterConnect(publish(Buffer.from([0x61, 0x2f, 0xfe]), 'x')), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'a PUBLISH topic with U+0000 closes the connection [MQTT-1.5.3-2]',
    packets: afterConnect(publish(Buffer.from([0x61, 0x00, 0x62]), 'x')), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'a SUBSCRIBE filter with invalid UTF-8 closes the connection [MQTT-1.5.3-1]',
    packets: afterConnect(subscribePacket(1, [Buffer.from([0x61, 0x2f, 0xff]), 0])), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'SUBSCRIBE filter a+ closes the connection [MQTT-4.7.1-3]',
    packets: afterConnect(subscribePacket(1, ['a+', 0])), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'SUBSCRIBE filter +a closes the connection [MQTT-4.7.1-3]',
    packets: afterConnect(subscribePacket(1, ['+a', 0])), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'SUBSCRIBE filter a/b# closes the connection [MQTT-4.7.1-2]',
    packets: afterConnect(subscribePacket(1, ['a/b#', 0])), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'SUBSCRIBE filter a/#/b closes the connection [MQTT-4.7.1-2]',
    packets: afterConnect(subscribePacket(1, ['a/#/b', 0])), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'UNSUBSCRIBE filter a+ closes the connection [MQTT-4.7.1-3]',
    packets: afterConnect(unsubscribe(1, 'a+')), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'a second CONNECT closes the connection [MQTT-3.1.0-2], even one that would get a CONNACK refusal',
    packets: afterConnect(connect({ clientId: '', clean: false })), want: { connack: 0, open: false }, likeMosquitto: true },
  { name: 'SUBSCRIBE filters +/a/# and # are granted',
    packets: afterConnect(subscribePacket(1, ['+/a/#', 0], ['#', 1])), want: { connack: 0, open: true, suback: [0, 1] }, likeMosquitto: true },
  { name: 'a PUBLISH topic with a well-formed U+FFFD is accepted',
    packets: afterConnect(publish('a/\uFFFD', 'x')), want: { connack: 0, open: true }, likeMosquitto: true },
  // [MQTT-1.5.3-3]: control characters are only "SHOULD NOT"; Mosquitto 2 closes, Vigil is not stricter than the spec.
  { name: 'a PUBLISH topic with U+0001 is accepted (the spec allows it)',
    packets: afterConnect(publish('a/\u0001', 'x')), want: { connack: 0, open: true }, likeMosquitto: false }
]

interface Outcome { connack: number | null, open: boolean, suback?: number[] }

async function run (t: Teardown, port: number, c: Case): Promise<Outcome> {
  const session = await RawSession.open(t, port)
  const [first, ...rest] = c.packets
  session.send(first!)
  // The packets after a CONNECT go once it is answered, as a client library would send them.
  if (rest.length > 0 && await session.next('connack') !== null) session.send(...rest)
  const { open, received } = await session.outcome()
  const connack = received.find((p) => p.cmd === 'connack')
  const suback = received.find((p) => p.cmd === 'suback')
  return { connack: connack?.returnCode ?? null, open, ...(suback !== undefined ? { suback: suback.granted } : {}) }
}

t.test('every malformed CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE of the issue, as raw bytes', async (t) => {
  const broker = await startBroker(t)
  for (const c of CASES) {
    const outcome = await run(t, broker.ports.mqtt, c)
    t.same(outcome, c.want, `${c.name}: sent ${c.packets.map(hex).join(' | ')}`)
  }
  // The CONNACKs written before Aedes sees the CONNECT are counted like Aedes' own.
  const counted = (await broker.metrics.getSingleMetric('vigil_connections_total')!.get()).values
  const result = (label: string): number => counted.find((v) => v.labels.result === label)?.value ?? -1
  t.equal(result('rejected_identifier'), 1, 'vigil_connections_total{result="rejected_identifier"}: the empty clientId')
  t.equal(result('rejected_protocol'), 2, 'vigil_connections_total{result="rejected_protocol"}: the two name/level pairs')
})

t.test('side by side with Mosquitto: Vigil is as strict on every row, stricter nowhere the spec allows',
  { skip: mosquittoAvailable() ? false : 'mosquitto not installed' }, async (t) => {
    const mosquitto = await startMosquitto(t)
    const broker = await startBroker(t)
    t.comment(`mosquitto ${mosquittoVersion()}`)
    for (const c of CASES) {
      const theirs = await run(t, mosquitto.port, c)
      const ours = await run(t, broker.ports.mqtt, c)
      if (c.likeMosquitto) t.same(ours, theirs, `${c.name}: Vigil as Mosquitto`)
      else t.notSame(ours, theirs, `${c.name}: Mosquitto is stricter than the spec, Vigil is not`)
    }
  })

t.test('a malformed packet closes only that connection, with liveness reason protocol_error, and delivers nothing',
  async (t) => {
    const broker = await startBroker(t)
    const watcher = await connectClient(t, broker.url, { clientId: 'conf-watcher' })
    const seen = collect(watcher)
    await subscribe(watcher, ['#', '$liveness/conf-bad'], 1)

    const bad = await RawSession.open(t, broker.ports.mqtt)
    bad.send(connect({ clientId: 'conf-bad' }))
    t.equal((await bad.next('connack'))?.returnCode, 0, 'the client connects')
    await waitFor(() => seen.some((m) => m.topic === '$liveness/conf-bad'), 3000, 'its online status')
    bad.send(publish(Buffer.from([0x64, 0x2f, 0x00]), 'nul topic'), publish(Buffer.from([0x64, 0x2f, 0xff]), 'bad utf8'))
    t.ok(await bad.closed(), 'the connection is closed')
    const offline = await waitFor(() => seen.find((m) => m.topic === '$liveness/conf-bad' &&
      (JSON.parse(m.payload.toString()) as { state: string }).state === 'offline'), 3000, 'its offline status')
    t.equal((JSON.parse(offline.payload.toString()) as { reason: string }).reason, 'protocol_error', 'reason protocol_error')

    const other = await connectClient(t, broker.url, { clientId: 'conf-barrier' })
    await other.publishAsync('conf/barrier', 'barrier', { qos: 1 })
    await waitFor(() => seen.some((m) => m.topic === 'conf/barrier'), 3000, 'the barrier')
    t.same(seen.filter((m) => !m.topic.startsWith('$')).map((m) => m.topic), ['conf/barrier'],
      'neither malformed PUBLISH reached a subscriber of #, the barrier did')
    t.ok(watcher.connected, 'other clients stay connected')
  })

/**
 * A persistent session subscribed to `+/+` (QoS 1) goes away; `$` messages and
 * a retained message are published meanwhile. On reconnect it gets the barrier
 * (published last) with RETAIN 0 and nothing before it.
 */
async function queuedScenario (t: Teardown & { same(a: unknown, b: unknown, m: string): void, equal(a: unknown, b: unknown, m: string): void },
  port: number, publishDollar: () => Promise<void>, publishBarrier: () => Promise<void>): Promise<Incoming[]> {
  const first = await RawSession.open(t, port)
  first.send(connect({ clientId: 'conf-persistent', clean: false }), subscribePacket(1, ['+/+', 1]))
  t.same((await first.next('suback'))?.granted, [1], 'subscribed to +/+ at QoS 1')
  first.send(DISCONNECT)
  await first.closed()
  await publishDollar()
  await publishBarrier()
  const again = await RawSession.open(t, port)
  again.send(connect({ clientId: 'conf-persistent', clean: false }))
  const connack = await again.next('connack')
  t.equal(connack?.sessionPresent, true, 'the session is still there')
  const barrier = await again.next('publish')
  if (barrier?.messageId !== undefined) again.send(puback(barrier.messageId))
  const { received } = await again.outcome()
  return received.filter((p) => p.cmd === 'publish')
}

async function vigilQueued (t: Parameters<typeof queuedScenario>[0] & Teardown, override: VigilConfigInput): Promise<void> {
  const broker = await startBroker(t, override)
  const watcher = await connectClient(t, broker.url, { clientId: 'conf-status-watch' })
  const statuses = collect(watcher)
  await subscribe(watcher, '$liveness/conf-device', 1)
  const publishes = await queuedScenario(t, broker.ports.mqtt, async () => {
    // Vigil's own statuses: conf-device comes online and goes offline while the session is away.
    const device = await connectClient(t, broker.url, { clientId: 'conf-device' })
    await device.endAsync()
    await waitFor(() => statuses.some((m) => m.payload.toString().includes('"offline"')), 3000, 'the offline status')
    const pub = await connectClient(t, broker.url, { clientId: 'conf-dollar-pub' })
    await pub.publishAsync('$app/x', 'dollar', { qos: 1 })
    await pub.endAsync()
  }, async () => {
    const pub = await connectClient(t, broker.url, { clientId: 'conf-barrier-pub' })
    await pub.publishAsync('conf/barrier', 'barrier', { qos: 1, retain: true })
    await pub.endAsync()
  })
  t.same(publishes.map((p) => [p.topic, p.retain]), [['conf/barrier', false]],
    'no queued $liveness status nor $app message; the queued retained barrier comes with RETAIN 0 [MQTT-4.7.2-1] [MQTT-3.3.1-9]')
}

t.test('a persistent session subscribed to +/+ gets no queued $ message, and RETAIN 0 (memory)', async (t) => {
  await vigilQueued(t, {})
})

t.test('the same in Redis mode', { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
  const redis = await startRedis(t)
  await vigilQueued(t, { persistence: { redis: redis.url } })
})

t.test('the same bytes against Mosquitto', { skip: mosquittoAvailable() ? false : 'mosquitto not installed' }, async (t) => {
  const mosquitto = await startMosquitto(t)
  const url = `mqtt://127.0.0.1:${mosquitto.port}`
  const publishes = await queuedScenario(t, mosquitto.port, async () => {
    const pub = await connectClient(t, url, { clientId: 'conf-dollar-pub' })
    await pub.publishAsync('$app/x', 'dollar', { qos: 1 })
    await pub.endAsync()
  }, async () => {
    const pub = await connectClient(t, url, { clientId: 'conf-barrier-pub' })
    await pub.publishAsync('conf/barrier', 'barrier', { qos: 1, retain: true })
    await pub.endAsync()
  })
  t.same(publishes.map((p) => [p.topic, p.retain]), [['conf/barrier', false]], 'Mosquitto 2 does the same')
})

t.test('a live message to an established subscription carries RETAIN 0, to a new one RETAIN 1 [MQTT-3.3.1-9]', async (t) => {
  const broker = await startBroker(t)
  const live = await RawSession.open(t, broker.ports.mqtt)
  live.send(connect({ clientId: 'conf-live' }), subscribePacket(1, ['live/#', 1]))
  await live.next('suback')
  const pub = await connectClient(t, broker.url, { clientId: 'conf-live-pub' })
  await pub.publishAsync('live/a', 'retained', { qos: 1, retain: true })
  const delivered = await live.next('publish')
  t.same([delivered?.topic, delivered?.retain], ['live/a', false], 'established subscription: RETAIN 0')
  const from = live.received.length
  live.send(subscribePacket(2, ['live/+', 1]))
  const fresh = await live.next('publish', from)
  t.same([fresh?.topic, fresh?.retain], ['live/a', true], 'new subscription: the retained message with RETAIN 1')
})

t.test('the same checks on the WebSocket listener', async (t) => {
  const { WebSocket } = await import('ws')
  const broker = await startBroker(t)
  const exchange = async (bytes: Buffer): Promise<{ received: string, closed: boolean }> => {
    const ws = new WebSocket(broker.wsUrl, 'mqtt')
    t.teardown(() => ws.terminate())
    const chunks: Buffer[] = []
    ws.on('message', (data: Buffer) => chunks.push(data))
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
    ws.send(bytes)
    await closed
    return { received: hex(Buffer.concat(chunks)), closed: true }
  }
  t.same(await exchange(connect({ clientId: '', clean: false })), { received: '20 02 00 02', closed: true },
    'empty clientId with CleanSession 0 over ws: CONNACK 2, closed')
  t.same(await exchange(connect({ clientId: Buffer.from([0x61, 0xff]) })), { received: '', closed: true },
    'invalid UTF-8 in the clientId over ws: closed, no CONNACK')
})
