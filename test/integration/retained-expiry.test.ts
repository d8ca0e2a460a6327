import t from 'tap'
import type { MqttClient } from 'mqtt'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor, type Received } from '../helpers/clients.js'

import { metricValue } from '../support/prom-text.js'
import { retainedOn, retainedSeenBy } from '../support/retained.js'

const MAX_AGE = 2000
const SWEEP = 500
/** The contract's bound: gone within maxAge + sweepInterval, plus 1 s of honest margin. */
const BOUND = MAX_AGE + SWEEP + 1000

const clearOf = (received: Received[], topic: string): Received | undefined =>
  received.find((m) => m.topic === topic && m.payload.length === 0)

async function retainedCount (broker: TestBroker): Promise<number> {
  const persistence = (broker.broker as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<unknown> } }).persistence
  let n = 0
  for await (const _ of persistence.createRetainedStream('#')) n++
  return n
}

t.test('a retained message under a maxAge rule is cleared within maxAge + sweepInterval + 1 s; a republished one lives on; one outside every rule stays', async (t) => {
  const broker = await startBroker(t, { retained: { expire: [{ topic: 'exp/+/status', maxAge: '2s' }], sweepInterval: '500ms' } })
  const live = await connectClient(t, broker.url, { clientId: 'live-sub' })
  const received = collect(live)
  await subscribe(live, ['exp/#', 'keep/#'], 1)
  const pub: MqttClient = await connectClient(t, broker.url, { clientId: 'pub' })

  const publishedAt = Date.now()
  await pub.publishAsync('exp/a/status', 'a-online', { qos: 1, retain: true })
  await pub.publishAsync('exp/b/status', 'b-v1', { qos: 1, retain: true })
  await pub.publishAsync('keep/c', 'c-forever', { qos: 1, retain: true })
  await new Promise((resolve) => setTimeout(resolve, 1200)) // not a wait for an event: the republish must come later in the message's life
  const republishedAt = Date.now()
  await pub.publishAsync('exp/b/status', 'b-v2', { qos: 1, retain: true })

  await waitFor(() => clearOf(received, 'exp/a/status'), BOUND - (Date.now() - publishedAt), 'the live subscriber to see the clear of exp/a/status')
  const clearedAfter = Date.now() - publishedAt
  t.ok(clearedAfter >= MAX_AGE - 50, `not cleared before maxAge (after ${clearedAfter} ms)`)
  t.ok(clearedAfter <= BOUND, `cleared within maxAge + sweepInterval + 1 s (after ${clearedAfter} ms)`)
  t.equal(clearOf(received, 'exp/a/status')!.qos, 1, 'the clear is a QoS 1 publish')

  const seen = await retainedSeenBy(t, broker, ['exp/#', 'keep/#'])
  t.notOk(seen.has('exp/a/status'), 'a fresh subscriber receives nothing for the expired message')
  t.equal(seen.get('exp/b/status'), 'b-v2', 'the message republished meanwhile lives on')
  t.equal(seen.get('keep/c'), 'c-forever', 'a message outside every rule stays')
  t.notOk(clearOf(received, 'exp/b/status'), 'the republished message was not cleared at its first store time + maxAge')

  // The republished one expires in turn, counted from its own store time.
  await waitFor(() => clearOf(received, 'exp/b/status'), BOUND - (Date.now() - republishedAt), 'the clear of the republished message')
  t.ok(Date.now() - republishedAt >= MAX_AGE - 50, 'its age counts from the republish')
  t.notOk(clearOf(received, 'keep/c'), 'the message outside every rule was never cleared')

  t.equal(await metricValue(broker.metrics, 'vigil_retained_expired_total'), 2, 'vigil_retained_expired_total counts both expiries')
  t.equal(await metricValue(broker.metrics, 'vigil_retained_messages'), await retainedCount(broker),
    'vigil_retained_messages equals the retained messages in the store')
})

t.test('an empty retained publish forgets the store time: the message is not cleared again later', async (t) => {
  const broker = await startBroker(t, { retained: { expire: [{ topic: 'gone/#', maxAge: '1s' }], sweepInterval: '200ms' } })
  const live = await connectClient(t, broker.url, { clientId: 'live-2' })
  const received = collect(live)
  await subscribe(live, 'gone/#', 1)
  const pub = await connectClient(t, broker.url, { clientId: 'pub-2' })
  await pub.publishAsync('gone/x', 'x', { qos: 1, retain: true })
  // That publish made pub-2 a device: its retained status is stored a moment later, before the gauge is read.
  await retainedOn(t, broker, '$liveness/pub-2', { until: (p) => p !== null })
  const before = await metricValue(broker.metrics, 'vigil_retained_messages')
  await pub.publishAsync('gone/x', '', { qos: 1, retain: true })
  // Barrier through the sweeper: a message stored under the same rule after the clear expires after
  // gone/x would have; its sweep clear comes after any clear of gone/x.
  await pub.publishAsync('gone/barrier', 'b', { qos: 1, retain: true })
  await waitFor(() => clearOf(received, 'gone/barrier'), 10_000, 'the barrier\'s sweep clear')
  t.equal(received.filter((m) => m.topic === 'gone/x' && m.payload.length === 0).length, 1, 'only the client\'s own clear, no sweep clear')
  t.equal(await metricValue(broker.metrics, 'vigil_retained_expired_total') - 1, 0, 'nothing was expired (but the barrier)')
  t.equal(await metricValue(broker.metrics, 'vigil_retained_messages'), before - 1, 'the gauge dropped with the clear')
})
