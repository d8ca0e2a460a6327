/**
 * Issue 11, part 2: nothing acknowledged is lost when Redis fails. Two nodes on
 * one real redis-server (appendonly yes, appendfsync always: whatever Redis
 * acknowledged survives its SIGKILL, so any loss is the broker's); 20
 * persistent QoS 1 subscribers on node A, a publisher on node B at 200 msg/s.
 * Redis is SIGKILLed part-way and restarted on the same port 5 s later.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { startRedis } from '../helpers/redis.js'
import { collect, connectClient, sleep, subscribe, waitFor } from '../helpers/clients.js'
import { FAULT_LOAD, runLoad } from './redis-faults-helpers.js'
import { metricValue } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

t.test('Redis SIGKILLed and restarted under QoS 1 load: every acknowledged message reaches every persistent subscriber', { timeout: 90_000 }, async (t) => {
  const redis = await startRedis(t, { aof: true })
  const a = await startBroker(t, { persistence: { redis: redis.url } })
  const b = await startBroker(t, { persistence: { redis: redis.url } })
  let killedAt = 0
  const result = await runLoad(t, {
    publisherUrl: b.url,
    subscriberUrl: a.url,
    ...FAULT_LOAD,
    fault: async () => {
      await redis.stop()
      killedAt = Date.now()
      await sleep(5000) // the outage itself: Redis stays down 5 s
      await redis.restart()
    }
  })
  t.comment(`redis SIGKILL + restart after 5 s: ${result.acked} of 400 acknowledged, ${result.lost} acknowledged deliveries lost, ` +
    `${result.duplicates} duplicates (20 subscribers; killed ${killedAt > 0 ? 'at message 150' : 'never'})`)
  t.equal(result.acked, 400, 'the publisher got every message acknowledged in the end (it re-sends the refused ones)')
  t.equal(result.lost, 0, `no acknowledged message is lost (first missing: ${result.sample.join(', ')})`)
})

t.test('while Redis is down: QoS 0 still reaches this node\'s subscribers (a retained one, which cannot be stored, is dropped), QoS 1 gets no PUBACK and is delivered once the client re-sends it', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t, { aof: true })
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  const sub = await connectClient(t, broker.url, { clientId: 'down-sub', clean: false })
  const got = collect(sub)
  await subscribe(sub, 'down/#', 1)
  // Retries its CONNECT (CONNACK 3 while Redis is down) and then re-sends what was not acknowledged.
  const pub = await connectClient(t, broker.url, { clientId: 'down-pub', clean: false, reconnectPeriod: 200, reconnectOnConnackError: true })
  await redis.stop()
  await eventually(async () => (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 503, 10_000)

  // Local first: a subscriber on this node gets a QoS 0 message without Redis.
  pub.publish('down/q0', 'local', { qos: 0 })
  await waitFor(() => got.find((m) => m.topic === 'down/q0'), 5000, 'the QoS 0 message at the local subscriber')
  pub.publish('down/r0', 'dropped', { qos: 0, retain: true })
  await eventually(async () => await metricValue(broker.metrics, 'vigil_redis_refused_total', { what: 'publish_qos0' }) === 1, 10_000)
  t.equal(await metricValue(broker.metrics, 'vigil_redis_refused_total', { what: 'publish_qos0' }), 1, 'the retained one is dropped, counted in vigil_redis_refused_total{what="publish_qos0"}')
  t.ok(pub.connected, 'a dropped QoS 0 PUBLISH leaves the connection open')

  let acked = false
  pub.publish('down/q1', 'kept', { qos: 1 }, (err) => { if (err === undefined || err === null) acked = true })
  await new Promise<void>((resolve) => pub.once('close', () => resolve()))
  t.notOk(acked, 'no PUBACK: the broker closed the connection instead')
  t.equal(await metricValue(broker.metrics, 'vigil_redis_refused_total', { what: 'publish' }), 1, 'counted in vigil_redis_refused_total{what="publish"}')

  await redis.restart()
  await waitFor(() => acked, 15_000, 'the PUBACK once the client re-sent it after Redis came back')
  await waitFor(() => got.find((m) => m.topic === 'down/q1'), 10_000, 'the message at the subscriber')
  t.equal(got.filter((m) => m.topic === 'down/q0').length, 1, 'the local QoS 0 message arrived once')
  t.notOk(got.some((m) => m.topic === 'down/r0'), 'the retained QoS 0 message was dropped (the QoS 1 one, sent after it, arrived)')
})

