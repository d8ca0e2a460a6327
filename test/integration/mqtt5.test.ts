/**
 * MQTT 5 clients beside 3.1.1 clients (Aedes 2): real mqtt.js v5 clients, raw
 * v5 packets where a case needs bytes mqtt.js will not send, and mosquitto_sub -V mqttv5.
 */
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt'
import { startBroker } from '../helpers/broker.js'
import { mosquittoSubV5 } from '../helpers/mosquitto.js'
import { aclFile } from '../helpers/auth.js'
import { makeCerts } from '../helpers/certs.js'
import { startRedis } from '../helpers/redis.js'
import { connectClient, rawSocket, subscribe, waitFor } from '../helpers/clients.js'
import { metricValue } from '../support/prom-text.js'
import { dropConnection, JSON_WILL, nextOn, parse, watch } from './wills-helpers.js'

interface Teardown { teardown(fn: () => unknown): void }
const v5 = { protocolVersion: 5 as const }
const WILL = (id: string, properties?: Record<string, unknown>): Record<string, unknown> =>
  ({ topic: `devices/${id}/status`, payload: Buffer.from(JSON_WILL), qos: 1, retain: true, ...(properties === undefined ? {} : { properties }) })

interface V5Message { topic: string, payload: Buffer, packet: IPublishPacket, at: number }

/** An MQTT 5 subscriber that keeps whole packets (user properties included). */
async function watch5 (t: Teardown, url: string, topics: string[]): Promise<{ client: MqttClient, received: V5Message[] }> {
  const client = await connectClient(t, url, v5)
  const received: V5Message[] = []
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, packet, at: Date.now() }))
  await subscribe(client, topics, 1)
  return { client, received }
}

const statusOf = (received: Array<{ topic: string, payload: Buffer, retain?: boolean }>, id: string, state: string): Record<string, unknown> | undefined => {
  const m = received.find((r) => r.topic === `$liveness/${id}` && parse(r.payload).state === state)
  return m === undefined ? undefined : parse(m.payload)
}

// Every case has its own broker (and Redis) and mostly waits on expiry and delay intervals: four at a time.
t.jobs = 4

t.test('an MQTT 5 client and a 3.1.1 client on the same listener see each other\'s messages', async (t) => {
  const broker = await startBroker(t)
  const old = await watch(t, broker.url, 'mixed/#')
  const w5 = await watch5(t, broker.url, ['mixed/#'])
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-mixed' })
  await dev.publishAsync('mixed/a', 'from v5', { qos: 1, properties: { userProperties: { k: 'v' } } })
  const legacy = await connectClient(t, broker.url, { clientId: 'v4-mixed' })
  await legacy.publishAsync('mixed/b', 'from 3.1.1', { qos: 1 })
  await waitFor(() => old.received.length >= 2 && w5.received.length >= 2, 5000, 'both messages at both subscribers')
  t.same(old.received.map((m) => m.payload.toString()), ['from v5', 'from 3.1.1'])
  t.same(w5.received.map((m) => m.payload.toString()), ['from v5', 'from 3.1.1'])
  t.same(w5.received[0]!.packet.properties?.userProperties, { k: 'v' }, 'user properties reach the v5 subscriber')
})

t.test('DISCONNECT 0x04: the will is published, stamped graceful_with_will, and liveness says so', async (t) => {
  const broker = await startBroker(t, { wills: { tsUnit: 'ms' } })
  const old = await watch(t, broker.url, ['$liveness/#', 'devices/#'])
  const w5 = await watch5(t, broker.url, ['devices/#'])
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-dw', will: WILL('v5-dw') as never })
  await waitFor(() => statusOf(old.received, 'v5-dw', 'online'), 5000, 'online')
  const leftAt = Date.now()
  dev.end(false, { reasonCode: 0x04 })
  const will = parse((await nextOn(old, 'devices/v5-dw/status')).payload)
  t.equal(will.reason, 'graceful_with_will')
  t.ok(Math.abs((will.ts as number) - leftAt) <= 1000, `ts ${String(will.ts)} within 1 s of the DISCONNECT`)
  const offline = await waitFor(() => statusOf(old.received, 'v5-dw', 'offline'), 5000, 'offline')
  t.equal(offline.reason, 'graceful_with_will')
  const m5 = await waitFor(() => w5.received.find((m) => m.topic === 'devices/v5-dw/status'), 5000, 'the will at the v5 subscriber')
  const props = m5.packet.properties?.userProperties ?? {}
  t.equal(props['vigil-reason'], 'graceful_with_will', 'vigil-reason user property')
  t.equal(props['vigil-ts'], String(will.ts), 'vigil-ts user property, in ms')
  t.equal(await metricValue(broker.metrics, 'vigil_wills_published_total', { reason: 'graceful_with_will' }), 1)
})

t.test('DISCONNECT 0x00: graceful, and no will', async (t) => {
  const broker = await startBroker(t)
  const old = await watch(t, broker.url, ['$liveness/#', 'devices/#'])
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-dn', will: WILL('v5-dn') as never })
  await waitFor(() => statusOf(old.received, 'v5-dn', 'online'), 5000, 'online')
  dev.end(false, { reasonCode: 0x00 })
  const offline = await waitFor(() => statusOf(old.received, 'v5-dn', 'offline'), 5000, 'offline')
  t.equal(offline.reason, 'graceful')
  // Barrier: a message on the will's topic sent after the close; the will, had it gone out, came first.
  const other = await connectClient(t, broker.url)
  await other.publishAsync('devices/v5-dn/status', 'barrier', { qos: 1 })
  await waitFor(() => old.received.find((m) => m.payload.toString() === 'barrier'), 5000, 'the barrier')
  t.same(old.received.filter((m) => m.topic === 'devices/v5-dn/status').map((m) => m.payload.toString()), ['barrier'], 'no will before the barrier')
})

t.test('a connection lost: v5 subscribers get the stamp as user properties, 3.1.1 subscribers the same payload', async (t) => {
  const broker = await startBroker(t, { wills: { tsUnit: 'ms' } })
  const old = await watch(t, broker.url, ['devices/#'])
  const w5 = await watch5(t, broker.url, ['devices/#'])
  const dev = await connectClient(t, broker.url, { clientId: 'v4-lost', will: WILL('v4-lost') as never })
  dropConnection(dev)
  const m = await nextOn(old, 'devices/v4-lost/status')
  const m5 = await waitFor(() => w5.received.find((r) => r.topic === 'devices/v4-lost/status'), 5000, 'the will at the v5 subscriber')
  t.same(m5.payload, m.payload, 'the same stamped payload')
  t.equal(m5.packet.properties?.userProperties?.['vigil-reason'], 'connection_lost')
  t.equal(m5.packet.properties?.userProperties?.['vigil-ts'], String(parse(m.payload).ts))
})

t.test('Will Delay Interval: the will and the offline status wait for it, and a reconnect within it cancels both', async (t) => {
  const broker = await startBroker(t, { wills: { tsUnit: 'ms' } })
  const old = await watch(t, broker.url, ['devices/#', '$liveness/#'])
  const session = { sessionExpiryInterval: 30 }
  const a = await connectClient(t, broker.url, { ...v5, clientId: 'v5-wd', properties: session, will: WILL('v5-wd', { willDelayInterval: 1 }) as never })
  const diedAt = dropConnection(a)
  const m = await nextOn(old, 'devices/v5-wd/status', 6000)
  t.ok(m.at - diedAt >= 900, `published ${m.at - diedAt} ms after the death (delay 1 s)`)
  t.equal(parse(m.payload).reason, 'connection_lost')
  const offline = await waitFor(() => old.received.find((r) => r.topic === '$liveness/v5-wd' && parse(r.payload).state === 'offline'), 5000, 'offline')
  t.ok(offline.at - diedAt >= 900, `the offline status too, ${offline.at - diedAt} ms after the death`)

  const b = await connectClient(t, broker.url, { ...v5, clientId: 'v5-wc', properties: session, will: WILL('v5-wc', { willDelayInterval: 2 }) as never })
  dropConnection(b)
  await connectClient(t, broker.url, { ...v5, clientId: 'v5-wc', clean: false, properties: session })
  // Barrier: a will of another client with a longer delay, dropped after the reconnect, falls due after v5-wc's would have.
  const c = await connectClient(t, broker.url, { ...v5, clientId: 'v5-wb', properties: session, will: WILL('v5-wb', { willDelayInterval: 3 }) as never })
  dropConnection(c)
  await nextOn(old, 'devices/v5-wb/status', 8000)
  t.notOk(old.received.some((r) => r.topic === 'devices/v5-wc/status'), 'no will for the client that came back')
  t.notOk(old.received.some((r) => r.topic === '$liveness/v5-wc' && parse(r.payload).state === 'offline'), 'and no offline status')
  t.equal(await metricValue(broker.metrics, 'vigil_wills_suppressed_total', { cause: 'reconnected' }), 1)
})

t.test('Will Delay Interval beyond the session: the will goes out when the session ends', async (t) => {
  const broker = await startBroker(t)
  const old = await watch(t, broker.url, ['devices/#'])
  // No Session Expiry Interval: the session ends with the connection [MQTT-3.1.2-23], so does the wait.
  const a = await connectClient(t, broker.url, { ...v5, clientId: 'v5-ws', will: WILL('v5-ws', { willDelayInterval: 60 }) as never })
  const diedAt = dropConnection(a)
  const m = await nextOn(old, 'devices/v5-ws/status', 5000)
  t.ok(m.at - diedAt < 3000, 'published at once, not after 60 s')
})

/** Send one raw MQTT 5 CONNECT, resolve with the CONNACK. */
async function rawConnack5 (t: Teardown, port: number, connect: Partial<mqttPacket.IConnectPacket>): Promise<mqttPacket.IConnackPacket> {
  const socket = await rawSocket(t, port)
  const got = new Promise<mqttPacket.IConnackPacket>((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    parser.on('packet', (p) => resolve(p as mqttPacket.IConnackPacket))
    socket.on('data', (d: Buffer) => parser.parse(d))
  })
  // mqtt-packet will not write an empty ClientId with Clean Start 0 (3.1.1's rule): clear the flag by hand.
  const bytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 0, clientId: '', ...connect, clean: true } as mqttPacket.IConnectPacket, { protocolVersion: 5 })
  const flags = 2 + 2 + (connect.protocolId ?? 'MQTT').length + 1 // fixed header, name length, name, level
  if (connect.clean === false) bytes[flags] = bytes[flags]! & ~0x02
  socket.write(bytes)
  return await got
}

t.test('an empty ClientId from an MQTT 5 client is accepted with an assigned one, whatever Clean Start says', async (t) => {
  const broker = await startBroker(t)
  for (const clean of [true, false]) {
    const connack = await rawConnack5(t, broker.ports.mqtt, { clean, properties: { sessionExpiryInterval: 10 } })
    t.equal(connack.reasonCode, 0, `clean ${String(clean)}: accepted`)
    t.match(connack.properties?.assignedClientIdentifier, /./, `clean ${String(clean)}: assigned ${String(connack.properties?.assignedClientIdentifier)}`)
  }
})

t.test('an MQTT 5 CONNECT Vigil refuses gets a v5 CONNACK with a reason code and a Reason String', async (t) => {
  const broker = await startBroker(t)
  // Protocol name "MQIsdp" belongs to level 3 only [MQTT-3.1.2-2].
  const connack = await rawConnack5(t, broker.ports.mqtt, { protocolId: 'MQIsdp', clientId: 'v5-bad' })
  t.equal(connack.reasonCode, 0x84, 'unsupported protocol version')
  t.match(connack.properties?.reasonString, /MQIsdp/, 'the Reason String says why')
})

t.test('ACL: a refused MQTT 5 PUBLISH gets PUBACK 0x87 and keeps its connection; a refused filter gets SUBACK 0x87', async (t) => {
  const broker = await startBroker(t, { auth: { aclFile: aclFile(t, 'topic readwrite ok/#\ntopic read $liveness/#\n'), allowAnonymous: true } })
  const old = await watch(t, broker.url, ['$liveness/#', 'ok/#'])
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-acl' })
  const acks: Array<{ reasonCode?: number, properties?: { reasonString?: string } }> = []
  dev.on('packetreceive', (p) => { if (p.cmd === 'puback') acks.push(p as never) })
  await dev.publishAsync('secret/x', 'no', { qos: 1 }).catch(() => {})
  await waitFor(() => acks.length > 0, 5000, 'PUBACK')
  t.equal(acks[0]!.reasonCode, 0x87, 'not authorized')
  t.match(acks[0]!.properties?.reasonString, /may not publish/, 'with a Reason String')
  await dev.publishAsync('ok/y', 'barrier', { qos: 1 })
  await waitFor(() => old.received.find((m) => m.topic === 'ok/y'), 5000, 'a later PUBLISH on the same connection')
  t.ok(dev.connected, 'still connected')
  const granted = await dev.subscribeAsync('secret/#', { qos: 1 }).catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted?.map((qos) => ({ qos })) ?? [])
  t.equal(granted[0]?.qos, 0x87, 'SUBACK 0x87')
  dropConnection(dev)
  const offline = await waitFor(() => statusOf(old.received, 'v5-acl', 'offline'), 5000, 'offline')
  t.equal(offline.reason, 'connection_lost', 'the refusal was not the end of the connection')
})

t.test('mosquitto_sub -V mqttv5 subscribes and receives, with the user properties of a stamped will', async (t) => {
  const broker = await startBroker(t)
  const probe = await connectClient(t, broker.url)
  // Subscribed once a probe message comes back through it.
  const sub = await mosquittoSubV5(t, broker.ports.mqtt, 'mosq-v5', '%t %p %P', async () => await probe.publishAsync('devices/probe', 'p', { qos: 1 }))
  t.ok(sub.output().includes('devices/probe'), 'mosquitto_sub is subscribed')
  const dev = await connectClient(t, broker.url, { clientId: 'v4-mosq', will: WILL('v4-mosq') as never })
  dropConnection(dev)
  await waitFor(() => sub.output().includes('devices/v4-mosq/status'), 5000, 'the will at mosquitto_sub')
  const line = sub.output().split('\n').find((l) => l.startsWith('devices/v4-mosq/status'))!
  t.match(line, /"reason":"connection_lost"/)
  t.match(line, /vigil-reason:connection_lost/, 'user property vigil-reason')
  t.match(line, /vigil-ts:\d+/, 'user property vigil-ts')
})

t.test('a PUBLISH that ends a 3.1.1 connection ends an MQTT 5 one too, with DISCONNECT 0x87 and a Reason String', async (t) => {
  const broker = await startBroker(t)
  const old = await watch(t, broker.url, ['$liveness/#'])
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-spoof' })
  await waitFor(() => statusOf(old.received, 'v5-spoof', 'online'), 5000, 'online')
  const disconnect = new Promise<{ reasonCode?: number, properties?: { reasonString?: string } }>((resolve) => dev.on('packetreceive', (p) => { if (p.cmd === 'disconnect') resolve(p as never) }))
  dev.publish('$liveness/victim', '{"state":"online"}', { qos: 1 })
  const packet = await disconnect
  t.equal(packet.reasonCode, 0x87, 'not authorized')
  t.match(packet.properties?.reasonString, /status topic/, 'the refusal as Reason String')
  const offline = await waitFor(() => statusOf(old.received, 'v5-spoof', 'offline'), 5000, 'offline')
  t.equal(offline.reason, 'protocol_error')
})

t.test('CONNACK to an MQTT 5 client: Receive Maximum 1000 (the inbound QoS 2 window), shared subscriptions available', async (t) => {
  const broker = await startBroker(t)
  const connack = await rawConnack5(t, broker.ports.mqtt, { clientId: 'v5-caps' })
  t.equal(connack.reasonCode, 0)
  t.equal(connack.properties?.receiveMaximum, 1000)
  // Memory mode (test/integration/shared-subscriptions.test.ts; Redis mode says 0).
  t.equal(connack.properties?.sharedSubscriptionAvailable, true)
})

t.test('MQTT 5 and 3.1.1 clients together on TCP, TLS and WebSocket: one DISCONNECT 0x04 each, every will stamped graceful_with_will', async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { mqtt: { tls: { port: 0, cert: certs.cert, key: certs.key } } })
  const urls = { tcp: broker.url, tls: `mqtts://127.0.0.1:${broker.ports.tls}`, ws: broker.wsUrl }
  const old = await watch(t, broker.url, ['$liveness/#', 'devices/#'])
  for (const [name, url] of Object.entries(urls)) {
    const legacy = await connectClient(t, url, { clientId: `v4-${name}`, ca: certs.certPem })
    const dev = await connectClient(t, url, { ...v5, clientId: `v5-${name}`, ca: certs.certPem, will: WILL(`v5-${name}`) as never })
    await legacy.publishAsync(`devices/v4-${name}/up`, name, { qos: 1 })
    dev.end(false, { reasonCode: 0x04 })
    const will = parse((await nextOn(old, `devices/v5-${name}/status`)).payload)
    t.equal(will.reason, 'graceful_with_will', `${name}: the will`)
    const offline = await waitFor(() => statusOf(old.received, `v5-${name}`, 'offline'), 5000, `${name}: offline`)
    t.equal(offline.reason, 'graceful_with_will', `${name}: the status`)
    t.ok(statusOf(old.received, `v4-${name}`, 'online'), `${name}: the 3.1.1 client beside it is online`)
  }
})

for (const mode of ['memory', 'redis'] as const) {
  t.test(`[${mode}] Message Expiry: a retained message outlives its expiry for no new subscriber; one within it gets the remaining lifetime`, async (t) => {
    const redis = mode === 'redis' ? await startRedis(t) : null
    const broker = await startBroker(t, redis === null ? {} : { persistence: { redis: redis.url } })
    const pub = await connectClient(t, broker.url, { ...v5, clientId: 'v5-exp' })
    await pub.publishAsync('exp/short', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync('exp/long', 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } })
    const early = await watch5(t, broker.url, ['exp/#'])
    await waitFor(() => early.received.length === 2, 5000, 'both retained, before expiry')
    const long = early.received.find((m) => m.topic === 'exp/long')!
    t.ok((long.packet.properties?.messageExpiryInterval ?? 0) <= 60 && (long.packet.properties?.messageExpiryInterval ?? 0) >= 58, 'the remaining lifetime')
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the expiry itself is what is tested: real time passes
    const late = await watch5(t, broker.url, ['exp/#'])
    await waitFor(() => late.received.some((m) => m.topic === 'exp/long'), 5000, 'the long-lived one')
    // Barrier: retained messages of one SUBSCRIBE arrive together; a live message after them comes last.
    await pub.publishAsync('exp/barrier', 'b', { qos: 1 })
    await waitFor(() => late.received.some((m) => m.topic === 'exp/barrier'), 5000, 'the barrier')
    t.same(late.received.map((m) => m.topic), ['exp/long', 'exp/barrier'], 'the expired one is not delivered')
  })
}

t.test('Session Expiry: a session is kept for its interval (queued messages delivered), and gone after it', async (t) => {
  const broker = await startBroker(t)
  const session = { sessionExpiryInterval: 1 }
  const sub = await connectClient(t, broker.url, { ...v5, clientId: 'v5-sess', clean: false, properties: session })
  await subscribe(sub, 'sess/#', 1)
  sub.end(true)
  const pub = await connectClient(t, broker.url, { clientId: 'v4-sess-pub' })
  await pub.publishAsync('sess/a', 'queued', { qos: 1 })
  const back = mqtt.connect(broker.url, { ...v5, reconnectPeriod: 0, clientId: 'v5-sess', clean: false, properties: session })
  t.teardown(() => { back.end(true) })
  const got: string[] = []
  back.on('message', (_topic, payload) => got.push(payload.toString()))
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => back.once('connect', resolve))
  t.equal(connack.sessionPresent, true, 'within the interval: the session is there')
  await waitFor(() => got.length > 0, 5000, 'the queued message')
  t.same(got, ['queued'])
  await new Promise<void>((resolve) => back.end(true, {}, () => resolve()))
  // The broker saw it go: only the publisher is left.
  for (let i = 0; i < 250 && !/vigil_clients_connected(\{[^}]*\})? 1$/m.test(await broker.metrics.getSingleMetricAsString('vigil_clients_connected')); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 2000)) // the expiry itself is what is tested: real time passes
  const late = mqtt.connect(broker.url, { ...v5, reconnectPeriod: 0, clientId: 'v5-sess', clean: false, properties: session })
  t.teardown(() => { late.end(true) })
  const again = await new Promise<{ sessionPresent: boolean }>((resolve) => late.once('connect', resolve))
  t.equal(again.sessionPresent, false, 'after it: a new session')
})
