import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { createVigil } from '../../broker/server.js'
import { testConfig } from '../helpers/config.js'
import { eventually } from '../support/wait.js'

t.test('Redis mode: publish/subscribe, retained and QoS 1/2 work', async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  const pub = await connectClient(t, broker.url, { clientId: 'r-pub' })
  const sub = await connectClient(t, broker.url, { clientId: 'r-sub' })
  const received = collect(sub)
  await subscribe(sub, 'r/#', 2)
  for (const qos of [0, 1, 2] as const) await pub.publishAsync('r/x', `q${qos}`, { qos })
  await waitFor(() => received.length >= 3, 5000, 'three messages')
  t.same(received.map((m) => m.payload.toString()).sort(), ['q0', 'q1', 'q2'])
  await pub.publishAsync('r/retained', 'kept', { qos: 1, retain: true })
  const late = await connectClient(t, broker.url, { clientId: 'r-late' })
  const lateReceived = collect(late)
  await subscribe(late, 'r/retained', 1)
  await waitFor(() => lateReceived[0], 3000, 'retained message')
  t.equal(lateReceived[0]!.payload.toString(), 'kept')
  t.ok(await redis.client().exists('retained'), 'the retained store lives in Redis')
})

t.test('two nodes on one Redis act as one broker', async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { persistence: { redis: redis.url } })
  const b = await startBroker(t, { persistence: { redis: redis.url } })
  const sub = await connectClient(t, a.url, { clientId: 'on-a' })
  const received = collect(sub)
  await subscribe(sub, 'cluster/+', 1)
  const pub = await connectClient(t, b.url, { clientId: 'on-b' })
  await pub.publishAsync('cluster/hello', 'from b', { qos: 1 })
  await waitFor(() => received[0], 5000, 'a message published on the other node')
  t.equal(received[0]!.payload.toString(), 'from b')
})

t.test('a persistent session survives a broker restart in Redis mode with no message lost', async (t) => {
  const redis = await startRedis(t)
  const config = testConfig({ persistence: { redis: redis.url } })
  const first = createVigil(config)
  await first.start()
  const port = first.ports.mqtt
  const sub = await connectClient(t, `mqtt://127.0.0.1:${port}`, { clientId: 'durable', clean: false })
  await subscribe(sub, 'durable/#', 1)
  await sub.endAsync()
  const pub = await connectClient(t, `mqtt://127.0.0.1:${port}`, { clientId: 'durable-pub' })
  for (let i = 0; i < 10; i++) await pub.publishAsync('durable/q', `m${i}`, { qos: 1 })
  await pub.endAsync()
  await first.close()

  const second = createVigil({ ...config, mqtt: { ...config.mqtt, port } })
  await second.start()
  t.teardown(() => second.close())
  const back = await connectClient(t, `mqtt://127.0.0.1:${second.ports.mqtt}`, { clientId: 'durable', clean: false })
  const received = collect(back)
  await waitFor(() => received.length >= 10, 5000, 'ten queued messages after restart')
  t.same(received.map((m) => m.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i}`))
})

t.test('readiness follows Redis: 503 with a reason while it is gone, 200 when back', async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  let res = await broker.http.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 200)
  await redis.stop()
  res = await broker.http.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.match(res.json(), { status: 'unready', reason: /redis/ })
  res = await broker.http.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200, 'the process is still healthy')
  await redis.restart()
  const ready = await eventually(async () => (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 15_000, 100)
  t.ok(ready, 'ready again once Redis answers')
})
