import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { grantedQos } from '../helpers/auth.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import mqtt from 'mqtt'
import type { VigilConfigInput } from '../../config/schema.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'

import type { Teardown } from '../support/teardown.js'
interface Tap extends Teardown { equal(a: unknown, b: unknown, m: string): unknown, same(a: unknown, b: unknown, m: string): unknown }
import { TokenBucket } from '../../plugins/limits/token-bucket.js'
import { metricValue } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

t.test('the token bucket allows a burst of 2x the rate, then the rate', async (t) => {
  const bucket = new TokenBucket(10, 0)
  let taken = 0
  while (bucket.take(0)) taken++
  t.equal(taken, 20, 'burst 2x')
  t.notOk(bucket.take(50))
  t.ok(bucket.take(100), 'one token per 100 ms at 10/s')
  t.notOk(bucket.take(100))
})

t.test('publishRate: a client over its rate is disconnected with liveness reason rate_limited; others are untouched', async (t) => {
  const broker = await startBroker(t, { limits: { publishRate: 5 } })
  for (const cause of ['queue_full', 'retained_limit']) t.equal(await metricValue(broker.metrics, 'vigil_messages_dropped_total', { cause }), 0)
  const calm = await connectClient(t, broker.url, { clientId: 'calm' })
  const wills = collect(calm)
  await subscribe(calm, 'wills/#', 1)
  const noisy = await connectClient(t, broker.url, { clientId: 'noisy', will: { topic: 'wills/noisy', payload: Buffer.from('gone'), qos: 1, retain: false } })
  const gone = new Promise<void>((resolve) => noisy.once('close', () => resolve()))
  for (let i = 0; i < 50; i++) noisy.publish('noise', String(i))
  await gone
  await waitFor(() => broker.services.need('liveness').get('noisy')?.state === 'offline', 3000, 'noisy offline')
  t.equal(broker.services.need('liveness').get('noisy')?.reason, 'rate_limited')
  await waitFor(() => wills.find((m) => m.topic === 'wills/noisy'), 3000, 'the rate-limited client\'s will')
  await calm.publishAsync('calm/x', '1', { qos: 1 })
  t.ok(calm.connected)
  t.equal(await metricValue(broker.metrics, 'vigil_limit_refusals_total', { limit: 'publish_rate' }), 1)
})

t.test('maxSubscriptions: the filter over the limit gets SUBACK 0x80 and is counted; an unsubscribe frees a slot', async (t) => {
  const broker = await startBroker(t, { limits: { maxSubscriptions: 2 } })
  const c = await connectClient(t, broker.url, { clientId: 'subs' })
  t.equal(await grantedQos(c, 'a/1'), 1)
  t.equal(await grantedQos(c, 'a/2'), 1)
  t.equal(await grantedQos(c, 'a/2'), 1, 'the same filter again is not a new subscription')
  t.equal(await grantedQos(c, 'a/3'), 128)
  await c.unsubscribeAsync('a/1')
  t.equal(await grantedQos(c, 'a/3'), 1)
  t.equal(await metricValue(broker.metrics, 'vigil_limit_refusals_total', { limit: 'subscriptions' }), 1)
})

t.test('maxRetained: beyond it a retained message is delivered live but not stored, and counted', async (t) => {
  const broker = await startBroker(t, { limits: { maxRetained: 2 } })
  const live = await connectClient(t, broker.url, { clientId: 'live' })
  const got = collect(live)
  await subscribe(live, 'r/#', 1)
  const pub = await connectClient(t, broker.url, { clientId: 'pub' })
  for (const n of ['1', '2', '3']) await pub.publishAsync(`r/${n}`, n, { qos: 1, retain: true })
  await pub.publishAsync('r/1', 'again', { qos: 1, retain: true })
  await waitFor(() => got.find((m) => m.topic === 'r/3'), 3000, 'the live delivery of r/3')
  t.equal(await metricValue(broker.metrics, 'vigil_messages_dropped_total', { cause: 'retained_limit' }), 1)
  const late = await connectClient(t, broker.url, { clientId: 'late' })
  const later = collect(late)
  await subscribe(late, 'r/#', 1)
  await pub.publishAsync('r/barrier', '', { qos: 1 })
  await waitFor(() => later.length >= 2 && later.find((m) => m.topic === 'r/2'), 3000, 'retained r/1 and r/2')
  t.same(later.filter((m) => m.retain).map((m) => m.topic).sort(), ['r/1', 'r/2'], 'r/3 was not stored')
  await pub.publishAsync('r/1', '', { qos: 1, retain: true })
  await pub.publishAsync('r/4', '4', { qos: 1, retain: true })
  t.equal(await metricValue(broker.metrics, 'vigil_messages_dropped_total', { cause: 'retained_limit' }), 1, 'a cleared topic frees its slot')
})

t.test('maxRetained counts the whole cluster: two nodes on one Redis share the limit', { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { node: { id: 'ret-a' }, limits: { maxRetained: 2 }, persistence: { redis: redis.url } })
  const b = await startBroker(t, { node: { id: 'ret-b' }, limits: { maxRetained: 2 }, persistence: { redis: redis.url } })
  const index = (broker: typeof a): { clientTopics(): number, ready(): boolean } => broker.services.need('retainedIndex')
  await waitFor(() => index(a).ready() && index(b).ready(), 5000, 'both retained indexes built')
  const pubA = await connectClient(t, a.url, { clientId: 'ret-pub-a' })
  for (const n of ['1', '2']) await pubA.publishAsync(`rc/${n}`, n, { qos: 1, retain: true })
  await waitFor(() => index(b).clientTopics() === 2, 5000, 'node B knows the two topics node A stored')
  const watcher = await connectClient(t, b.url, { clientId: 'ret-live-b' })
  const got = collect(watcher)
  await subscribe(watcher, 'rc/#', 1)
  const pubB = await connectClient(t, b.url, { clientId: 'ret-pub-b' })
  await pubB.publishAsync('rc/3', '3', { qos: 1, retain: true })
  await waitFor(() => got.find((m) => m.topic === 'rc/3' && !m.retain), 3000, 'rc/3 delivered live on node B')
  t.equal(await metricValue(b.metrics, 'vigil_messages_dropped_total', { cause: 'retained_limit' }), 1, 'node B refused to store a third topic')
  t.equal(index(a).clientTopics(), 2, 'so the cluster holds 2 retained topics')
  // A clear on node A frees a slot for node B.
  await pubA.publishAsync('rc/1', '', { qos: 1, retain: true })
  await waitFor(() => index(b).clientTopics() === 1, 5000, 'node B saw the clear')
  await pubB.publishAsync('rc/4', '4', { qos: 1, retain: true })
  await waitFor(() => index(a).clientTopics() === 2, 5000, 'rc/4 stored')
  t.equal(await metricValue(b.metrics, 'vigil_messages_dropped_total', { cause: 'retained_limit' }), 1, 'no further drop')
})

const queuedCase = (persistence: () => Promise<VigilConfigInput['persistence']>) => async (t: Tap) => {
  const broker = await startBroker(t, { limits: { maxQueued: 3 }, persistence: await persistence() })
  const device = await connectClient(t, broker.url, { clientId: 'sleeper', clean: false })
  await subscribe(device, 'q/#', 1)
  // A heartbeat makes it a device (a client that never publishes is an observer, forgotten when it goes).
  await device.publishAsync('sleeper/heartbeat', '{}', { qos: 1 })
  await new Promise<void>((resolve) => device.end(false, {}, () => resolve()))
  await waitFor(() => broker.services.need('liveness').get('sleeper')?.state === 'offline', 3000, 'sleeper offline')
  const pub = await connectClient(t, broker.url, { clientId: 'pub-q' })
  for (let i = 1; i <= 5; i++) await pub.publishAsync('q/x', String(i), { qos: 1 })
  let drops = 0
  await eventually(async () => (drops = await metricValue(broker.metrics, 'vigil_messages_dropped_total', { cause: 'queue_full' })) >= 2, 10_000, 30)
  t.equal(drops, 2, 'two drops counted')
  const back = mqtt.connect(broker.url, { clientId: 'sleeper', clean: false, reconnectPeriod: 0, protocolVersion: 4 })
  t.teardown(() => { back.end(true) })
  const got: string[] = []
  back.on('message', (_topic, payload) => got.push(payload.toString()))
  await waitFor(() => got.length >= 3, 5000, 'the queued messages')
  await pub.publishAsync('q/x', 'live', { qos: 1 })
  await waitFor(() => got.includes('live'), 3000, 'the barrier')
  t.same(got, ['3', '4', '5', 'live'], 'the newest three, then live traffic')
}

t.test('maxQueued: an offline session keeps the newest messages; the oldest are dropped and counted', queuedCase(async () => ({})))

t.test('maxQueued in Redis mode: the same', { skip: !redisAvailable() }, async (t) => {
  const redis = await startRedis(t)
  await queuedCase(async () => ({ redis: redis.url }))(t)
})
