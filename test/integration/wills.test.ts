/**
 * Truthful wills, one broker (memory mode), real clients (docs/topics-and-payloads.md#wills).
 * Times of death are measured here, on the same clock as the broker's.
 */
import t from 'tap'
import { disconnected, startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { metricValue } from '../support/prom-text.js'
import { rawConnect } from '../support/raw-mqtt.js'
import { retainedOn } from '../support/retained.js'
import { dropConnection, JSON_WILL, nextOn, parse, watch, willBarrier, willClient } from './wills-helpers.js'

const ms = { wills: { tsUnit: 'ms' as const } }

// Every case has its own broker and mostly waits (keep-alive, silence, wills.delay): four at a time.
t.jobs = 4

t.test('connection_lost: a JSON will with ts 0 arrives stamped with the time of death (seconds), reason and last_seen', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, 'devices/+/status')
  const dev = await willClient(t, broker.url, 'cl-1', { topic: 'devices/cl-1/status', payload: JSON_WILL })
  const connectedAt = Date.now()
  const diedAt = dropConnection(dev)
  const m = await nextOn(w, 'devices/cl-1/status')
  const will = parse(m.payload)
  t.equal(will.reason, 'connection_lost')
  t.equal(will.state, 'offline')
  t.equal(will.x, 1, 'other fields unchanged')
  t.ok(Math.abs((will.ts as number) * 1000 - diedAt) <= 1000, `ts ${String(will.ts)} s within 1 s of ${diedAt} ms`)
  t.ok(Math.abs((will.last_seen as number) * 1000 - connectedAt) <= 1000, 'last_seen: the CONNECT was the last heartbeat')
  t.same(await retainedOn(t, broker, 'devices/cl-1/status'), m.payload, 'the retained copy is the stamped one')
  t.equal(await metricValue(broker.metrics, 'vigil_wills_published_total', { reason: 'connection_lost' }), 1)
})

t.test('keepalive_timeout: ts is the last packet seen, not the expiry', async (t) => {
  const broker = await startBroker(t, ms)
  const w = await watch(t, broker.url, 'devices/+/status')
  const { sentAt } = await rawConnect(t, broker.ports.mqtt, { clientId: 'ka-1', keepalive: 1, will: { topic: 'devices/ka-1/status', payload: JSON_WILL, qos: 1, retain: true } })
  const m = await nextOn(w, 'devices/ka-1/status', 6000)
  const will = parse(m.payload)
  t.equal(will.reason, 'keepalive_timeout')
  t.ok(m.at - sentAt >= 1400, 'expired after 1.5 x keepalive')
  t.ok(Math.abs((will.ts as number) - sentAt) <= 1000, `ts ${String(will.ts)} within 1 s of the CONNECT at ${sentAt}`)
  t.equal(will.x, 1)
  t.type(will.last_seen, 'number')
  t.same(await retainedOn(t, broker, 'devices/ka-1/status'), m.payload)
})

t.test('protocol_error: a malformed packet ends the connection and the will says so', async (t) => {
  const broker = await startBroker(t, ms)
  const w = await watch(t, broker.url, 'devices/+/status')
  const { socket } = await rawConnect(t, broker.ports.mqtt, { clientId: 'pe-1', will: { topic: 'devices/pe-1/status', payload: JSON_WILL, qos: 1, retain: true } })
  const diedAt = Date.now()
  socket.write(Buffer.from([0x00, 0x00])) // packet type 0 is reserved [MQTT-2.2.1]
  const m = await nextOn(w, 'devices/pe-1/status')
  const will = parse(m.payload)
  t.equal(will.reason, 'protocol_error')
  t.ok(Math.abs((will.ts as number) - diedAt) <= 1000, 'ts within 1 s of the bad packet')
  t.equal(will.x, 1)
  t.type(will.last_seen, 'number')
  t.same(await retainedOn(t, broker, 'devices/pe-1/status'), m.payload)
})

t.test('silent_timeout: a client kicked for silence gets its will stamped with the kick', async (t) => {
  const broker = await startBroker(t, { ...ms, liveness: { silentAfter: '500ms', kickSilentAfter: '1s' } })
  const w = await watch(t, broker.url, 'devices/+/status')
  // The watcher keeps sending heartbeats, or it would be kicked for silence too.
  const beat = setInterval(() => { w.client.publish('watchers/alive', '1') }, 200)
  t.teardown(() => clearInterval(beat))
  const dev = await willClient(t, broker.url, 'st-1', { topic: 'devices/st-1/status', payload: JSON_WILL })
  const connectedAt = Date.now()
  let closedAt = 0
  dev.on('close', () => { closedAt ||= Date.now() })
  const m = await nextOn(w, 'devices/st-1/status', 8000)
  await waitFor(() => closedAt > 0, 2000, 'the client to see the close')
  const will = parse(m.payload)
  t.equal(will.reason, 'silent_timeout')
  t.ok(Math.abs((will.ts as number) - closedAt) <= 1000, `ts ${String(will.ts)} within 1 s of the kick at ${closedAt}`)
  t.ok(Math.abs((will.last_seen as number) - connectedAt) <= 1000, 'last_seen: its last heartbeat (the CONNECT)')
  t.equal(will.x, 1)
  t.same(await retainedOn(t, broker, 'devices/st-1/status'), m.payload)
})

t.test('a text will gets its placeholders filled in', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, 'devices/+/status')
  const dev = await willClient(t, broker.url, 'tx-1', { topic: 'devices/tx-1/status', payload: 'offline at {iso} ({reason}) {clientId}' })
  const diedAt = dropConnection(dev)
  const m = await nextOn(w, 'devices/tx-1/status')
  const match = /^offline at (\S+) \(connection_lost\) tx-1$/.exec(m.payload.toString())
  t.ok(match, m.payload.toString())
  t.ok(Math.abs(Date.parse(match![1]!) - diedAt) <= 1000, 'iso within 1 s of the drop')
})

t.test('a binary will and a text will without placeholders arrive byte-identical', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, 'devices/+/status')
  const binary = Buffer.from([0x7b, 0xff, 0x00, 0x7b, 0x74, 0x73, 0x7d, 0x80])
  dropConnection(await willClient(t, broker.url, 'bin-1', { topic: 'devices/bin-1/status', payload: binary }))
  dropConnection(await willClient(t, broker.url, 'txt-2', { topic: 'devices/txt-2/status', payload: 'gone {for good}' }))
  t.same((await nextOn(w, 'devices/bin-1/status')).payload, binary)
  t.equal((await nextOn(w, 'devices/txt-2/status')).payload.toString(), 'gone {for good}')
})

t.test('wills.stamp false publishes wills as the device wrote them', async (t) => {
  const broker = await startBroker(t, { wills: { stamp: false } })
  const w = await watch(t, broker.url, 'devices/+/status')
  dropConnection(await willClient(t, broker.url, 'ns-1', { topic: 'devices/ns-1/status', payload: JSON_WILL }))
  t.equal((await nextOn(w, 'devices/ns-1/status')).payload.toString(), JSON_WILL)
})

t.test('a graceful DISCONNECT publishes no will', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, 'devices/+/status')
  const dev = await willClient(t, broker.url, 'gr-1', { topic: 'devices/gr-1/status', payload: JSON_WILL })
  await dev.endAsync()
  await willBarrier(t, broker.url, w)
  t.same(w.received.filter((m) => m.topic === 'devices/gr-1/status'), [])
  t.equal(await retainedOn(t, broker, 'devices/gr-1/status'), null)
})

t.test('takeover (memory mode): the old will is never delivered and the retained value is not the old will', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, ['devices/+/status', '$liveness/tk-1'])
  const old = await willClient(t, broker.url, 'tk-1', { topic: 'devices/tk-1/status', payload: '{"state":"offline","ts":0,"who":"old"}' })
  await old.publishAsync('devices/tk-1/status', '{"state":"online","who":"old"}', { qos: 1, retain: true })
  const fresh = await willClient(t, broker.url, 'tk-1', { topic: 'devices/tk-1/status', payload: '{"state":"offline","ts":0,"who":"new"}' })
  await fresh.publishAsync('devices/tk-1/status', '{"state":"online","who":"new"}', { qos: 1, retain: true })
  await willBarrier(t, broker.url, w)
  const offline = w.received.filter((m) => m.topic === 'devices/tk-1/status' && m.payload.toString().includes('offline'))
  t.same(offline.map((m) => m.payload.toString()), [], 'no will of the replaced connection')
  t.equal((await retainedOn(t, broker, 'devices/tk-1/status'))?.toString(), '{"state":"online","who":"new"}')
  t.equal(await metricValue(broker.metrics, 'vigil_wills_suppressed_total', { cause: 'takeover' }), 1)
})

t.test('wills.delay: a drop and reconnect within the delay publishes no will and no offline status', async (t) => {
  const broker = await startBroker(t, { wills: { delay: '2s' } })
  const w = await watch(t, broker.url, ['devices/+/status', '$liveness/dl-1'])
  const dev = await willClient(t, broker.url, 'dl-1', { topic: 'devices/dl-1/status', payload: JSON_WILL })
  const gone = disconnected(broker, 'dl-1')
  dropConnection(dev)
  await gone // the drop is handled: what follows is a reconnect, not a takeover
  await willClient(t, broker.url, 'dl-1', { topic: 'devices/dl-1/status', payload: JSON_WILL })
  await willBarrier(t, broker.url, w)
  t.same(w.received.filter((m) => m.topic === 'devices/dl-1/status').map((m) => m.payload.toString()), [], 'no will')
  const offline = w.received.filter((m) => m.topic === '$liveness/dl-1' && parse(m.payload).state === 'offline')
  t.same(offline.map((m) => m.payload.toString()), [], 'no offline status')
  t.equal(await metricValue(broker.metrics, 'vigil_wills_suppressed_total', { cause: 'reconnected' }), 1)
})

t.test('wills.delay: a client that stays away gets exactly one will, stamped with the real time of death', async (t) => {
  const broker = await startBroker(t, { wills: { delay: '2s', tsUnit: 'ms' } })
  const w = await watch(t, broker.url, 'devices/+/status')
  const dev = await willClient(t, broker.url, 'dl-2', { topic: 'devices/dl-2/status', payload: JSON_WILL })
  const diedAt = dropConnection(dev)
  const m = await nextOn(w, 'devices/dl-2/status', 5000)
  t.ok(m.at - diedAt >= 1900, `held for the delay (${m.at - diedAt} ms)`)
  const will = parse(m.payload)
  t.ok(Math.abs((will.ts as number) - diedAt) <= 1000, 'ts is the time of death, not the end of the delay')
  t.equal(will.reason, 'connection_lost')
  await willBarrier(t, broker.url, w)
  t.equal(w.received.filter((r) => r.topic === 'devices/dl-2/status').length, 1, 'exactly one')
  t.same(await retainedOn(t, broker, 'devices/dl-2/status'), m.payload)
})

t.test('other publishes pass through untouched', async (t) => {
  const broker = await startBroker(t)
  const w = await watch(t, broker.url, 'devices/+/status')
  const dev = await connectClient(t, broker.url, { clientId: 'plain-1' })
  await dev.publishAsync('devices/plain-1/status', JSON_WILL, { qos: 1 })
  t.equal((await nextOn(w, 'devices/plain-1/status')).payload.toString(), JSON_WILL)
})
