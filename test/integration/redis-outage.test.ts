import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { eventually, nextTurn } from '../support/wait.js'

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
  await eventually(async () => (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 503, 10_000)
  const health = await broker.http.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, 'the process is alive')
  t.equal((await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'and reports it is not ready')

  await redis.restart()
  const ready = await eventually(async () => (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 15_000, 100)
  t.ok(ready, 'ready again once Redis answers')
  let attempt = 0
  const client = await waitFor(() => connectClient(t, broker.url, { clientId: `after-outage-${++attempt}`, connectTimeout: 2000 }).catch(() => null),
    30_000, 'a client to connect after the outage', 200).catch(() => null)
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
  // The fire-and-forget commands were sent before the awaited one and failed first; one turn of the
  // event loop later Node has checked each of their rejections for a handler.
  await nextTurn()
  await nextTurn()
  t.same(unhandled, [], 'the fire-and-forget ones are handled')
  const closing = Date.now()
  await broker.close()
  t.ok(Date.now() - closing < 9500, `with Redis gone, shutdown still completes inside the CLI's deadline (${Date.now() - closing} ms)`)
  t.same(unhandled, [], 'and leaves no unhandled rejection behind')
})
