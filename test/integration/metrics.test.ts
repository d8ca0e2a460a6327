import type { Socket } from 'node:net'
import t from 'tap'
import type { MqttClient } from 'mqtt'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { parsePrometheusText, type Scrape } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

async function scrape (broker: TestBroker): Promise<Scrape> {
  const res = await broker.http.inject({ url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return parsePrometheusText(res.body)
}

const qosValues = (s: Scrape, name: string): number[] => ['0', '1', '2'].map((qos) => s.value(name, { qos }) ?? NaN)
const streamOf = (client: MqttClient): Socket => (client as unknown as { stream: Socket }).stream

t.test('message counters move by exactly the publishes received and the deliveries made, by QoS', async (t) => {
  const broker = await startBroker(t, {}, { plugins: [metricsPlugin] })
  const before = await scrape(broker)
  t.same(qosValues(before, 'vigil_messages_received_total'), [0, 0, 0], 'every received{qos} series exists at 0')
  t.same(qosValues(before, 'vigil_messages_delivered_total'), [0, 0, 0], 'every delivered{qos} series exists at 0')
  t.equal(before.types.get('vigil_bytes_received_total'), 'counter')
  t.equal(before.types.get('vigil_bytes_sent_total'), 'counter')

  const tcpSub = await connectClient(t, broker.url, { clientId: 'm-sub-tcp' })
  const wsSub = await connectClient(t, broker.wsUrl, { clientId: 'm-sub-ws' })
  const got = [collect(tcpSub), collect(wsSub)]
  await subscribe(tcpSub, 'm/#', 2)
  await subscribe(wsSub, 'm/#', 2)
  const pub = await connectClient(t, broker.url, { clientId: 'm-pub' })
  for (let i = 0; i < 3; i++) await pub.publishAsync('m/a', `q0-${i}`, { qos: 0 })
  for (let i = 0; i < 2; i++) await pub.publishAsync('m/a', `q1-${i}`, { qos: 1 })
  await pub.publishAsync('m/a', 'q2', { qos: 2 })
  await pub.publishAsync('other/topic', 'nobody listens', { qos: 1 })
  await waitFor(() => got.every((g) => g.length === 6), 5000, 'six messages at each subscriber')

  // A dropped client's will is delivered, but is not a PUBLISH received from a client.
  const dying = await connectClient(t, broker.url, { clientId: 'm-dying', will: { topic: 'm/will', payload: Buffer.from('bye'), qos: 1, retain: false } })
  streamOf(dying).destroy()
  await waitFor(() => got.every((g) => g.length === 7), 5000, 'the will at each subscriber')

  const after = await scrape(broker)
  t.same(qosValues(after, 'vigil_messages_received_total'), [3, 3, 1], 'received: 3 at QoS 0, 2+1 at QoS 1 (the will not counted), 1 at QoS 2')
  t.same(qosValues(after, 'vigil_messages_delivered_total'), [6, 6, 2], 'delivered: one per subscriber (the will included)')
  t.notOk(after.samples.some((s) => 'clientId' in s.labels || 'topic' in s.labels), 'no per-client or per-topic labels')
})

t.test('byte counters equal what the clients wrote and read, and survive the connections closing', async (t) => {
  const broker = await startBroker(t, {}, { plugins: [metricsPlugin] })
  const sub = await connectClient(t, broker.url, { clientId: 'b-sub' })
  await subscribe(sub, 'b/#', 1)
  const received = collect(sub)
  const pub = await connectClient(t, broker.url, { clientId: 'b-pub' })
  const payload = Buffer.alloc(10_000, 7)
  for (let i = 0; i < 5; i++) await pub.publishAsync('b/x', payload, { qos: 1 })
  await waitFor(() => received.length === 5, 5000, 'five messages')
  // The last PUBACKs reach the broker's sockets a moment after the clients wrote them.
  await eventually(async () => (await scrape(broker)).value('vigil_bytes_received_total') === streamOf(sub).bytesWritten + streamOf(pub).bytesWritten, 10_000)
  const clientsWrote = streamOf(sub).bytesWritten + streamOf(pub).bytesWritten
  const clientsRead = streamOf(sub).bytesRead + streamOf(pub).bytesRead
  const live = await scrape(broker)
  t.equal(live.value('vigil_bytes_received_total'), clientsWrote, 'bytes received = bytes the clients wrote')
  t.equal(live.value('vigil_bytes_sent_total'), clientsRead, 'bytes sent = bytes the clients read')
  t.ok(clientsWrote > 50_000 && clientsRead > 50_000)

  await pub.endAsync()
  await sub.endAsync()
  await waitFor(() => broker.broker.connectedClients === 0, 3000, 'both gone')
  await eventually(async () => (await scrape(broker)).value('vigil_bytes_received_total') === streamOf(sub).bytesWritten + streamOf(pub).bytesWritten, 10_000)
  const closed = await scrape(broker)
  t.ok(closed.value('vigil_bytes_received_total')! >= clientsWrote, 'closed connections stay counted (monotonic)')
  t.equal(closed.value('vigil_bytes_received_total'), streamOf(sub).bytesWritten + streamOf(pub).bytesWritten, 'including the DISCONNECTs')

  const ws = await connectClient(t, broker.wsUrl, { clientId: 'b-ws' })
  await ws.publishAsync('b/ws', payload, { qos: 1 })
  const withWs = await scrape(broker)
  t.ok(withWs.value('vigil_bytes_received_total')! - closed.value('vigil_bytes_received_total')! > payload.length,
    'WebSocket clients are counted from the socket under the WebSocket')
})
