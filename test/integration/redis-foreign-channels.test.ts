/**
 * In Redis mode, other channels on the same Redis (Vigil's own decommission
 * kicks and retained-index changes, other programs') must never reach the
 * emitter nor end the broker (issue 15: with mqemitter-redis a '#' subscriber
 * became PSUBSCRIBE '*', and one DELETE /api/devices/... ended the process).
 * The local-first emitter subscribes to its own channels only.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'

t.test('a # subscriber survives a decommission, retained writes and a foreign PUBLISH on the same Redis',
  { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
    const redis = await startRedis(t)
    const broker = await startBroker(t, { persistence: { redis: redis.url } })
    const watcher = await connectClient(t, broker.url, { clientId: 'watcher' })
    const seen = collect(watcher)
    await subscribe(watcher, '#', 0)
    const device = await connectClient(t, broker.url, { clientId: 'dev-1' })
    await device.publishAsync('devices/dev-1/telemetry', 't', { qos: 1, retain: true })
    await waitFor(() => seen.some((m) => m.topic === 'devices/dev-1/telemetry'), 5000, 'the telemetry through #')

    const res = await broker.http.inject({ method: 'DELETE', url: '/api/devices/dev-1' })
    t.equal(res.statusCode, 204, 'decommissioned (kick relay messages went over Redis)')
    const coreErrors = async (): Promise<number> => {
      const metric = await broker.metrics.getSingleMetric('vigil_plugin_errors_total')?.get()
      return metric?.values.find((v) => v.labels.plugin === 'core')?.value ?? 0
    }
    const before = await coreErrors()
    await redis.client().publish('someone-else:channel', 'not an emitter packet')

    // Barrier: a message published after all of it still reaches the '#' subscriber.
    const pub = await connectClient(t, broker.url, { clientId: 'after' })
    await pub.publishAsync('after/all', 'still here', { qos: 1 })
    await waitFor(() => seen.some((m) => m.topic === 'after/all'), 5000, 'a message after the foreign traffic')
    t.ok(watcher.connected, 'the # subscriber is still connected')
    t.equal(await coreErrors() - before, 0, 'the foreign message never reached the emitter (no error)')
    t.notOk(seen.some((m) => m.payload.toString() === 'not an emitter packet'), 'nor any subscriber')
  })
