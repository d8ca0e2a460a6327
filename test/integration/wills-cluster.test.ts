/**
 * Truthful wills with two nodes on one Redis (docs/topics-and-payloads.md#wills): shutdown,
 * takeover and quick reconnect across nodes, pending wills that survive a restart.
 */
import t from 'tap'
import { disconnected, startBroker } from '../helpers/broker.js'
import { startRedis } from '../helpers/redis.js'
import { redisDelayStore } from '../../plugins/liveness/delay-store-redis.js'
import type { DelayedEnd } from '../../plugins/liveness/delayed-end.js'
import { metricValue } from '../support/prom-text.js'
import { retainedOn } from '../support/retained.js'
import { dropConnection, JSON_WILL, nextOn, parse, watch, willBarrier, willClient } from './wills-helpers.js'

// Every case has its own Redis and nodes and mostly waits: three at a time.
t.jobs = 3

t.test('server_shutdown: the will of a client of a stopping node arrives stamped on the other node', async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { persistence: { redis: redis.url }, wills: { tsUnit: 'ms' } })
  const b = await startBroker(t, { persistence: { redis: redis.url } })
  const w = await watch(t, b.url, 'devices/+/status')
  await willClient(t, a.url, 'sd-1', { topic: 'devices/sd-1/status', payload: JSON_WILL })
  const diedAt = Date.now()
  await a.close()
  const m = await nextOn(w, 'devices/sd-1/status')
  const will = parse(m.payload)
  t.equal(will.reason, 'server_shutdown')
  t.ok(Math.abs((will.ts as number) - diedAt) <= 1000, 'ts within 1 s of the shutdown')
  t.equal(will.x, 1)
  t.type(will.last_seen, 'number')
  t.same(await retainedOn(t, b, 'devices/sd-1/status', { until: (p) => p?.equals(m.payload) === true }), m.payload, 'the retained copy is the stamped one')
})

for (const mode of ['takeover', 'quick reconnect'] as const) {
  t.test(`${mode} across two nodes (Redis): the old will is never delivered after the new CONNACK, and is not the retained value`, async (t) => {
    const redis = await startRedis(t)
    const a = await startBroker(t, { persistence: { redis: redis.url } })
    const b = await startBroker(t, { persistence: { redis: redis.url } })
    const wa = await watch(t, a.url, 'devices/+/status')
    const wb = await watch(t, b.url, 'devices/+/status')
    const id = mode === 'takeover' ? 'tk-2' : 'qr-1'
    const topic = `devices/${id}/status`
    const old = await willClient(t, a.url, id, { topic, payload: '{"state":"offline","ts":0,"who":"old"}' })
    await old.publishAsync(topic, '{"state":"online","who":"old"}', { qos: 1, retain: true })
    if (mode === 'quick reconnect') dropConnection(old)
    const fresh = await willClient(t, b.url, id, { topic, payload: '{"state":"offline","ts":0,"who":"new"}' })
    const connackAt = Date.now()
    await fresh.publishAsync(topic, '{"state":"online","who":"new"}', { qos: 1, retain: true })
    // Barrier: a will through node a (where the old connection was), seen by both watchers.
    await willBarrier(t, a.url, [wa, wb])
    for (const [name, w] of [['node a', wa], ['node b', wb]] as const) {
      const late = w.received.filter((m) => m.topic === topic && m.payload.toString().includes('"who":"old"') &&
        m.payload.toString().includes('offline') && m.at >= connackAt)
      t.same(late.map((m) => m.payload.toString()), [], `${name}: no old will after the new CONNACK`)
    }
    for (const node of [a, b]) {
      t.equal((await retainedOn(t, node, topic, { until: (p) => p?.toString() === '{"state":"online","who":"new"}' }))?.toString(), '{"state":"online","who":"new"}', 'retained is the new session\'s')
    }
    if (mode === 'takeover') {
      const suppressed = await metricValue(a.metrics, 'vigil_wills_suppressed_total', { cause: 'takeover' }) +
        await metricValue(a.metrics, 'vigil_wills_suppressed_total', { cause: 'stale_epoch' })
      t.equal(suppressed, 1, 'node a suppressed the replaced connection\'s will')
    }
  })
}

t.test('wills.delay (Redis): a reconnect on another node cancels; a client that stays away gets exactly one will', async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { persistence: { redis: redis.url }, wills: { delay: '2s', tsUnit: 'ms' } })
  const b = await startBroker(t, { persistence: { redis: redis.url }, wills: { delay: '2s', tsUnit: 'ms' } })
  const w = await watch(t, b.url, ['devices/+/status', '$liveness/+'])
  const rd1 = await willClient(t, a.url, 'rd-1', { topic: 'devices/rd-1/status', payload: JSON_WILL })
  const rd2 = await willClient(t, a.url, 'rd-2', { topic: 'devices/rd-2/status', payload: JSON_WILL })
  const gone = Promise.all([disconnected(a, 'rd-1'), disconnected(a, 'rd-2')])
  dropConnection(rd1)
  const diedAt = dropConnection(rd2)
  await gone // node a has handled both drops: rd-1 on node b is a reconnect, not a takeover
  await willClient(t, b.url, 'rd-1', { topic: 'devices/rd-1/status', payload: JSON_WILL })
  // Barrier: a drop after the reconnect, through node a's delay; its will comes after anything rd-1 or rd-2 left pending.
  await willBarrier(t, a.url, w)
  t.same(w.received.filter((m) => m.topic === 'devices/rd-1/status').map((m) => m.payload.toString()), [], 'reconnected: no will')
  const offline1 = w.received.filter((m) => m.topic === '$liveness/rd-1' && parse(m.payload).state === 'offline')
  t.equal(offline1.length, 0, 'reconnected: no offline status')
  const wills2 = w.received.filter((m) => m.topic === 'devices/rd-2/status')
  t.equal(wills2.length, 1, 'stayed away: exactly one will, from one node')
  t.ok(Math.abs((parse(wills2[0]!.payload).ts as number) - diedAt) <= 1000, 'stamped with the time of death')
})

t.test('pending wills in Redis survive a restart and each is claimed by exactly one node', async (t) => {
  const redis = await startRedis(t)
  const one = redisDelayStore(redis.client())
  const two = redisDelayStore(redis.client())
  const will = (clientId: string, epoch: number, due: number): DelayedEnd => ({
    clientId, epoch, due, status: null,
    will: { topic: `devices/${clientId}/status`, payload: Buffer.from([1, 2, 3]), qos: 1, retain: true, reason: 'connection_lost', at: due - 2000 }
  })
  for (let i = 0; i < 50; i++) await one.put(will(`c${i}`, 1, 1000 + i))
  // A "restarted" node (a fresh connection) sees what the old one held.
  const [x, y] = await Promise.all([one.takeDue(1100), two.takeDue(1100)])
  t.equal(x.length + y.length, 50, 'every due will claimed')
  t.equal(new Set([...x, ...y].map((h) => h.clientId)).size, 50, 'none twice')
  t.same([...x, ...y][0]!.will?.payload, Buffer.from([1, 2, 3]))
  await one.put(will('late', 7, 5000))
  t.same(await two.takeDue(4999), [], 'not yet due')
  t.equal(await two.cancel('late', 7), undefined, 'the same epoch does not cancel')
  await one.put(will('late', 6, 6000))
  t.equal((await two.cancel('late', 8))?.epoch, 7, 'an older pending will is never replaced; a newer connection cancels it')
  t.same(await one.takeDue(10_000), [])
})
