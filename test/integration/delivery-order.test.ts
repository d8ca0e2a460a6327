/**
 * Aedes' per-client dedupe drops a message whose broker counter is below one
 * the client already had from that broker (broker/aedes/delivery-dedupe.ts). The
 * counter is taken when a publish starts, so order of delivery and order of
 * counters differ whenever publishes overtake each other: retained publishes
 * (which wait on Redis) overtaken by plain ones were lost for a
 * subscriber of both before the fix. Real broker, real Redis, real clients.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

t.test('plain publishes overtaking retained ones (which wait on Redis) lose nothing for a subscriber of both', async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { node: { id: 'order-redis' }, persistence: { redis: redis.url } })
  const sub = await connectClient(t, broker.url, { clientId: 'order-both' })
  const got = collect(sub)
  await subscribe(sub, 'race/#', 1)
  const retained = await connectClient(t, broker.url, { clientId: 'order-retained' })
  const plain = await connectClient(t, broker.url, { clientId: 'order-plain' })
  const N = 300
  await Promise.all([
    Promise.all(Array.from({ length: N }, async (_v, i) => await retained.publishAsync(`race/r/${i}`, 'r', { qos: 1, retain: true }))),
    Promise.all(Array.from({ length: N }, async (_v, i) => await plain.publishAsync(`race/p/${i}`, 'p', { qos: 1 })))
  ])
  await plain.publishAsync('race/end', 'barrier', { qos: 1 })
  await waitFor(() => got.some((m) => m.topic === 'race/end'), 10_000, 'the barrier')
  t.equal(got.filter((m) => m.topic.startsWith('race/r/')).length, N, 'every retained publish delivered')
  t.equal(got.filter((m) => m.topic.startsWith('race/p/')).length, N, 'every plain publish delivered')
})

t.test('overlapping subscriptions still get one copy of a message', async (t) => {
  const broker = await startBroker(t)
  const pub = await connectClient(t, broker.url, { clientId: 'overlap-pub' })
  const sub = await connectClient(t, broker.url, { clientId: 'overlap-sub' })
  const got = collect(sub)
  await subscribe(sub, ['overlap/#', 'overlap/+', 'overlap/x'], 1)
  for (let i = 0; i < 5; i++) await pub.publishAsync('overlap/x', String(i), { qos: i % 2 as 0 | 1 })
  await pub.publishAsync('overlap/end', 'barrier', { qos: 1 })
  await waitFor(() => got.some((m) => m.topic === 'overlap/end'), 5000, 'the barrier')
  t.same(got.filter((m) => m.topic === 'overlap/x').map((m) => m.payload.toString()), ['0', '1', '2', '3', '4'], 'each once, in order')
})
