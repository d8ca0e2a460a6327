import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, sleep, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { STORED_KEY } from '../../plugins/retained/store-redis.js'
import { metricValue } from '../support/prom-text.js'

// The two cases share nothing (own Redis and brokers) and mostly wait on sweeps: side by side.
t.jobs = 2

t.test('Redis mode: store times survive a broker restart and expiry is still on time afterwards', async (t) => {
  const redis = await startRedis(t)
  const db = redis.client()
  const config = {
    persistence: { redis: redis.url },
    retained: { expire: [{ topic: 'exp/#', maxAge: '3s' }], sweepInterval: '500ms' }
  }
  const first = await startBroker(t, config)
  const pub = await connectClient(t, first.url, { clientId: 'restart-pub' })
  const publishedAt = Date.now()
  await pub.publishAsync('exp/r1', 'survives', { qos: 1, retain: true })
  await pub.publishAsync('exp/r2', 'unknown-age', { qos: 1, retain: true })
  await waitFor(async () => await db.zscore(STORED_KEY, 'exp/r1') !== null, 5000, 'the store time written')
  const storedAt = Number(await db.zscore(STORED_KEY, 'exp/r1'))
  t.ok(Math.abs(storedAt - publishedAt) < 1000, 'the store time is in Redis')
  await pub.endAsync()
  await first.close()
  // As if r2 had been retained before Vigil knew it (e.g. stored by an older version).
  await db.zrem(STORED_KEY, 'exp/r2')
  // Not a wait for an event: the message must age across the restart.
  await sleep(2000)

  const restartedAt = Date.now()
  const second = await startBroker(t, config)
  const live = await connectClient(t, second.url, { clientId: 'restart-sub' })
  const received = collect(live)
  await subscribe(live, 'exp/#', 1)
  await waitFor(() => received.find((m) => m.topic === 'exp/r1' && m.retain), 3000, 'the retained message after the restart')
  t.equal(Number(await db.zscore(STORED_KEY, 'exp/r1')), storedAt, 'the store time is kept across the restart')
  await waitFor(() => received.find((m) => m.topic === 'exp/r1' && m.payload.length === 0), 3000 + 500 + 1000 - (Date.now() - publishedAt),
    'the clear, counted from the original store time')
  const age = Date.now() - publishedAt
  t.ok(age >= 2950 && age <= 4500, `expired ${age} ms after it was first stored, not after the restart`)
  const adoptedAt = Number(await db.zscore(STORED_KEY, 'exp/r2'))
  t.ok(adoptedAt >= restartedAt, 'a retained message of unknown age is adopted as stored at the first sweep')
})

t.test('Redis mode: two nodes sweeping produce exactly one clear per message', async (t) => {
  const redis = await startRedis(t)
  const config = {
    persistence: { redis: redis.url },
    retained: { expire: [{ topic: 'twice/#', maxAge: '1s' }], sweepInterval: '100ms' }
  }
  const a = await startBroker(t, config)
  const b = await startBroker(t, config)
  const onA = await connectClient(t, a.url, { clientId: 'watch-a' })
  const onB = await connectClient(t, b.url, { clientId: 'watch-b' })
  const seenA = collect(onA)
  const seenB = collect(onB)
  await subscribe(onA, 'twice/#', 1)
  await subscribe(onB, 'twice/#', 1)
  const pub = await connectClient(t, a.url, { clientId: 'twice-pub' })
  const topics = Array.from({ length: 60 }, (_, i) => `twice/${i}`)
  await Promise.all(topics.map((topic) => pub.publishAsync(topic, 'x', { qos: 1, retain: true })))

  const clears = (seen: typeof seenA): Map<string, number> => {
    const n = new Map<string, number>()
    for (const m of seen) if (m.payload.length === 0) n.set(m.topic, (n.get(m.topic) ?? 0) + 1)
    return n
  }
  await waitFor(() => clears(seenA).size === topics.length && clears(seenB).size === topics.length, 1000 + 100 + 1000 + 2000, 'every message cleared')
  // Barrier through the sweepers: a message stored after every clear expires after them; a second
  // clear of any earlier message would come before its clear.
  await pub.publishAsync('twice/barrier', 'x', { qos: 1, retain: true })
  await waitFor(() => clears(seenA).has('twice/barrier') && clears(seenB).has('twice/barrier'), 10_000, 'the barrier cleared')
  for (const seen of [seenA, seenB]) {
    const n = clears(seen)
    t.same(topics.filter((topic) => n.get(topic) !== 1), [], 'each message was cleared exactly once')
  }
  t.equal(await metricValue(a.metrics, 'vigil_retained_expired_total') + await metricValue(b.metrics, 'vigil_retained_expired_total') - 1, topics.length,
    'the two nodes expired each message once between them (and the barrier)')
  t.equal(await metricValue(a.metrics, 'vigil_retained_messages'), await metricValue(b.metrics, 'vigil_retained_messages'), 'both nodes report the shared count')
})
