import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, sleep, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

t.test('Redis going away under traffic never crashes the broker; it serves again when Redis is back', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  const sub = await connectClient(t, broker.url, { clientId: 'outage-sub' })
  await subscribe(sub, 'outage/#', 1)
  const pub = await connectClient(t, broker.url, {
    clientId: 'outage-pub',
    will: { topic: 'outage/will', payload: Buffer.from('{"ts":0}'), qos: 1, retain: true }
  })
  await redis.stop()
  // Traffic while Redis is gone: QoS 0/1, retained, a new CONNECT, a disconnect with a will.
  pub.publish('outage/a', 'x', { qos: 0 })
  pub.publish('outage/b', 'y', { qos: 1, retain: true })
  await connectClient(t, broker.url, { clientId: 'during-outage', connectTimeout: 2000 }).then((c) => c.end(true), () => {})
  pub.stream.destroy()
  await sleep(1500)
  const health = await broker.http.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, 'the process is alive')
  t.equal((await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'and reports it is not ready')

  await redis.restart()
  let ready = false
  for (let i = 0; i < 100 && !ready; i++) {
    ready = (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200
    if (!ready) await sleep(100)
  }
  t.ok(ready, 'ready again once Redis answers')
  let client = null
  for (let i = 0; i < 50 && client === null; i++) {
    client = await connectClient(t, broker.url, { clientId: `after-outage-${i}`, connectTimeout: 2000 }).catch(() => null)
    if (client === null) await sleep(200)
  }
  t.ok(client !== null, 'a new client connects after the outage')
  const received = collect(client!)
  await subscribe(client!, 'back/#', 1)
  await client!.publishAsync('back/ok', 'yes', { qos: 1 })
  await waitFor(() => received[0], 5000, 'a message after the outage')
  t.equal(received[0]!.payload.toString(), 'yes')
})

t.test('commands the Redis persistence sends without awaiting never become unhandled rejections', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const persistence = (broker.broker as unknown as {
    persistence: { putWill(client: { id: string }, packet: object): Promise<unknown> }
  }).persistence
  await redis.stop()
  // putWill fires LREM and RPUSH without awaiting them, then awaits SET: all three fail.
  const failed = await persistence.putWill({ id: 'gone-1' }, { topic: 'devices/gone-1/status', payload: Buffer.from('x'), qos: 1, retain: true })
    .then(() => false, () => true)
  t.ok(failed, 'the awaited command reports the failure to its caller')
  await sleep(500)
  t.same(unhandled, [], 'the fire-and-forget ones are handled')
  const closing = Date.now()
  await broker.close()
  t.ok(Date.now() - closing < 9500, `with Redis gone, shutdown still completes inside the CLI's deadline (${Date.now() - closing} ms)`)
  t.same(unhandled, [], 'and leaves no unhandled rejection behind')
})
