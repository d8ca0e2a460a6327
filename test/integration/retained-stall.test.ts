/**
 * Issue 15: one SUBSCRIBE of 1,000 filters against a broker holding 20,000
 * retained messages must not stall everybody else. Aedes 1.2 answered each
 * filter with a scan of every retained message (memory), or an HSCAN of the
 * whole hash (Redis); Vigil answers them from an index by topic level
 * (broker/retained-trie.ts). Memory and Redis mode; speed is measured in
 * bench/ (subscribe-stall), here only that the innocent client keeps flowing
 * while the big lookup runs, and that retained messages still arrive right.
 */
import t, { type Test } from 'tap'
import msgpack from 'msgpack-lite'
import type { MqttClient } from 'mqtt'
import type { VigilConfigInput } from '../../config/schema.js'
import { publishAsync } from '../../broker/publish.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor, type Received } from '../helpers/clients.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'
import { metricValue } from '../support/prom-text.js'

const STATUSES = 18_000
const LOAD = 2_000
const noRedis = redisAvailable() ? false : 'redis-server not installed'

const indexed = (broker: TestBroker): Promise<number> => metricValue(broker.metrics, 'vigil_retained_index_topics')

async function waitIndexed (broker: TestBroker, count: number): Promise<void> {
  await waitFor(async () => await indexed(broker) === count, 30_000, 'the retained index', 50)
    .catch(async () => { throw new Error(`the retained index holds ${await indexed(broker)} topics, not ${count}`) })
}

/** Retained messages through the broker (the path a PUBLISH takes), in slices. */
async function storeRetained (broker: TestBroker, topics: readonly string[], payload = 'x'): Promise<void> {
  for (let i = 0; i < topics.length; i += 1000) {
    await Promise.all(topics.slice(i, i + 1000).map((topic) => publishAsync(broker.broker,
      { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false })))
  }
}

/** QoS 1 round trips, one after the other, until stopped; completion times kept. */
function innocentLoop (client: MqttClient): { done: number[], stop(): Promise<void> } {
  const done: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      await client.publishAsync('innocent/ping', 'p', { qos: 1 })
      done.push(performance.now())
    }
  })()
  return { done, async stop () { running = false; await loop } }
}

/** A second SUBSCRIBE's retained barrier: what the first lookup sent has arrived before it. */
async function barrier (t: Test, broker: TestBroker, client: MqttClient, received: Received[]): Promise<void> {
  const pub = await connectClient(t, broker.url)
  await pub.publishAsync('barrier/r', 'b', { qos: 1, retain: true })
  await subscribe(client, 'barrier/r', 1)
  await waitFor(() => received.some((m) => m.topic === 'barrier/r'), 5000, 'the barrier retained message')
  pub.end()
}

async function stallScenario (t: Test, override: VigilConfigInput, seedRedis?: (topics: string[]) => Promise<void>): Promise<void> {
  const statuses = Array.from({ length: STATUSES }, (_, i) => `$liveness/device-${i}`)
  const load = Array.from({ length: LOAD }, (_, i) => `load/${i}`)
  // Redis mode: half of it was in Redis before the broker started (the index is built from it).
  if (seedRedis !== undefined) await seedRedis(statuses.slice(0, STATUSES / 2))
  const broker = await startBroker(t, override, { plugins: [] })
  await storeRetained(broker, seedRedis !== undefined ? statuses.slice(STATUSES / 2) : statuses)
  await storeRetained(broker, load)
  await waitIndexed(broker, STATUSES + LOAD)

  const innocent = await connectClient(t, broker.url, { clientId: 'innocent' })
  const probes = innocentLoop(innocent)
  await waitFor(() => probes.done.length >= 20, 10_000, 'the innocent client warming up')

  const attacker = await connectClient(t, broker.url, { clientId: 'attacker' })
  const received = collect(attacker)
  const filters = Array.from({ length: 999 }, (_, i) => `nomatch/${i}/+`)
  filters.push('load/+')
  const start = performance.now()
  await subscribe(attacker, filters, 0)
  await waitFor(() => received.length >= LOAD, 60_000, 'the retained messages of load/+')
  const end = performance.now()
  await probes.stop()

  // Round trips that completed while the lookup ran, and the longest wait between two.
  const during = probes.done.filter((at) => at > start && at <= end)
  let previous = probes.done.filter((at) => at <= start).at(-1) ?? start
  let longest = 0
  for (const at of [...during, end]) {
    longest = Math.max(longest, at - previous)
    previous = at
  }
  const window = end - start
  t.comment(`lookup ${window.toFixed(0)} ms, ${during.length} innocent round trips meanwhile, longest wait ${longest.toFixed(0)} ms`)
  t.ok(during.length >= 3, `the innocent client's round trips went on while the lookup ran (${during.length})`)
  t.ok(longest < window / 2, `no wait took most of the lookup (${longest.toFixed(0)} of ${window.toFixed(0)} ms)`)

  await barrier(t, broker, attacker, received)
  const topics = received.map((m) => m.topic).filter((topic) => topic !== 'barrier/r')
  t.equal(topics.length, LOAD, 'every matching retained message once')
  t.same(new Set(topics), new Set(load), 'exactly the load/+ topics: no $liveness one, nothing for nomatch/')
  t.ok(received.every((m) => m.retain), 'sent as retained')
}

t.test('memory mode: 1,000 filters against 20,000 retained messages do not stall the other clients', async (t) => {
  await stallScenario(t, {})
})

t.test('Redis mode: 1,000 filters against 20,000 retained messages do not stall the other clients', { skip: noRedis }, async (t) => {
  const redis = await startRedis(t)
  const client = redis.client()
  await stallScenario(t, { persistence: { redis: redis.url } }, async (topics) => {
    // As aedes-persistence-redis stores them: hash `retained`, topic -> msgpack packet.
    const pipeline = client.pipeline()
    for (const topic of topics) {
      pipeline.hset('retained', topic, msgpack.encode({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: true }))
    }
    await pipeline.exec()
  })
})

async function correctness (t: Test, override: VigilConfigInput): Promise<void> {
  const broker = await startBroker(t, override, { plugins: [] })
  const pub = await connectClient(t, broker.url, { clientId: 'pub' })
  for (const topic of ['a/b/c', 'a/d', 'a', 'a//e', '$app/x', '$app/deep/y', 'other/z']) {
    await pub.publishAsync(topic, `v:${topic}`, { qos: 1, retain: true })
  }
  await pub.publishAsync('a/d', 'replaced', { qos: 1, retain: true })
  await pub.publishAsync('other/z', '', { qos: 1, retain: true }) // [MQTT-3.3.1-10] clears it

  const sub = await connectClient(t, broker.url, { clientId: 'sub' })
  const received = collect(sub)
  // QoS 0: the lookup's messages go out in its order, before the barrier's.
  await subscribe(sub, ['a/#', '+/b/+', '+/+/e', '$app/+', '#'], 0)
  await waitFor(() => received.length >= 5, 5000, 'the five matching retained messages')
  await barrier(t, broker, sub, received)
  const got = received.filter((m) => m.topic !== 'barrier/r').map((m) => `${m.topic}=${m.payload.toString()}`).sort()
  t.same(got, ['a//e=v:a//e', 'a/b/c=v:a/b/c', 'a/d=replaced', 'a=v:a', '$app/x=v:$app/x'].sort(),
    "each match once, the replaced value, no cleared topic, '$' only through '$app/+' [MQTT-4.7.2-1]")
}

t.test('memory mode: wildcards, $ topics, replacing and clearing', async (t) => { await correctness(t, {}) })
t.test('Redis mode: wildcards, $ topics, replacing and clearing', { skip: noRedis }, async (t) => {
  const redis = await startRedis(t)
  await correctness(t, { persistence: { redis: redis.url } })
})

t.test('Redis mode: retained messages stored or cleared by another node, or before start-up, are found', { skip: noRedis }, async (t) => {
  const redis = await startRedis(t)
  const override = { persistence: { redis: redis.url } }
  const a = await startBroker(t, { ...override, node: { id: 'node-a' } }, { plugins: [] })
  const pubA = await connectClient(t, a.url, { clientId: 'pub-a' })
  await pubA.publishAsync('early/1', 'before b', { qos: 1, retain: true })
  const b = await startBroker(t, { ...override, node: { id: 'node-b' } }, { plugins: [] })
  await waitIndexed(b, 1)
  await pubA.publishAsync('fleet/1', 'one', { qos: 1, retain: true })
  await pubA.publishAsync('fleet/2', 'two', { qos: 1, retain: true })
  await pubA.publishAsync('fleet/2', '', { qos: 1, retain: true })
  await waitIndexed(b, 2)

  const sub = await connectClient(t, b.url, { clientId: 'sub-b' })
  const received = collect(sub)
  await subscribe(sub, ['early/+', 'fleet/#'], 0)
  await waitFor(() => received.length >= 2, 5000, 'the two retained messages')
  await barrier(t, b, sub, received)
  t.same(received.filter((m) => m.topic !== 'barrier/r').map((m) => `${m.topic}=${m.payload.toString()}`).sort(),
    ['early/1=before b', 'fleet/1=one'], "node b sees node a's retained messages, stored before and after it started, and not the cleared one")

  // Redis restarts empty: the index is rebuilt from it and follows new writes again.
  await redis.restart()
  await waitIndexed(a, 0)
  await waitIndexed(b, 0)
  const pubA2 = await connectClient(t, a.url, { clientId: 'pub-a2' })
  await pubA2.publishAsync('after/1', 'fresh', { qos: 1, retain: true })
  await waitIndexed(b, 1)
  const sub2 = await connectClient(t, b.url, { clientId: 'sub-b2' })
  const received2 = collect(sub2)
  await subscribe(sub2, ['#'], 0)
  await waitFor(() => received2.length >= 1, 5000, 'the retained message')
  await barrier(t, b, sub2, received2)
  t.same(received2.filter((m) => m.topic !== 'barrier/r').map((m) => m.topic), ['after/1'],
    'after a Redis restart only what Redis now holds is found')
})
