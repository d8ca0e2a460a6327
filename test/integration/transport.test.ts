import t from 'tap'
import type { MqttClient } from 'mqtt'
import { startBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'

async function roundTrip (t: { same(a: unknown, b: unknown): void }, publisher: MqttClient, subscriber: MqttClient, topic: string): Promise<void> {
  const received = collect(subscriber)
  await subscribe(subscriber, topic, 2)
  for (const qos of [0, 1, 2] as const) await publisher.publishAsync(topic, `hello qos${qos}`, { qos })
  await waitFor(() => received.length >= 3, 5000, 'three messages')
  t.same(received.map((m) => m.payload.toString()).sort(), ['hello qos0', 'hello qos1', 'hello qos2'])
}

t.test('a real client connects over TCP, WebSocket and TLS, publishes and receives', async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { mqtt: { tls: { port: 0, cert: certs.cert, key: certs.key } } })
  t.ok(broker.ports.tls! > 0, 'the TLS port is reported')
  const tcp = await connectClient(t, broker.url, { clientId: 'tcp-1' })
  const ws = await connectClient(t, broker.wsUrl, { clientId: 'ws-1' })
  const tls = await connectClient(t, `mqtts://127.0.0.1:${broker.ports.tls}`, { clientId: 'tls-1', ca: certs.certPem, servername: 'localhost' })
  await roundTrip(t, tcp, ws, 'transport/ws')
  await roundTrip(t, ws, tls, 'transport/tls')
  await roundTrip(t, tls, tcp, 'transport/tcp')
})

t.test('retained messages reach late subscribers (memory mode)', async (t) => {
  const broker = await startBroker(t)
  const pub = await connectClient(t, broker.url, { clientId: 'retain-pub' })
  await pub.publishAsync('devices/d1/status', 'online', { qos: 1, retain: true })
  const late = await connectClient(t, broker.url, { clientId: 'retain-sub' })
  const received = collect(late)
  await subscribe(late, 'devices/+/status', 1)
  await waitFor(() => received[0], 3000, 'the retained message')
  t.equal(received[0]!.payload.toString(), 'online')
  t.equal(received[0]!.retain, true)
})

t.test('a persistent session keeps QoS 1 messages while offline (memory mode)', async (t) => {
  const broker = await startBroker(t)
  const sub = await connectClient(t, broker.url, { clientId: 'persist-1', clean: false })
  await subscribe(sub, 'queue/#', 1)
  await sub.endAsync()
  const pub = await connectClient(t, broker.url, { clientId: 'persist-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('queue/a', `m${i}`, { qos: 1 })
  const again = await connectClient(t, broker.url, { clientId: 'persist-1', clean: false, manualConnect: false })
  const received = collect(again)
  await waitFor(() => received.length >= 5, 5000, 'five queued messages')
  t.same(received.map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4'])
})
