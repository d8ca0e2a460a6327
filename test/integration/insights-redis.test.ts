import t from 'tap'
import { historyKey } from '../../plugins/insights/history-redis.js'
import { startRedis } from '../helpers/redis.js'
import { api, device, insightScenarios, metric, startInsights, until } from './insights-scenarios.js'
import { eventually } from '../support/wait.js'

// Every case has its own broker (and Redis) and mostly waits: four at a time.
t.jobs = 4
insightScenarios(t, 'redis')

type H = { transitions: Array<{ state: string, reason: string | null, epoch: number, node: string }> }

t.test('[redis] history lives in one capped Redis list per device, expiring with forgetAfter, and survives a broker restart', async (t) => {
  const redis = await startRedis(t)
  const check = redis.client()
  const config = { node: { id: 'hist-node' }, liveness: { forgetAfter: '2h' } }
  const first = await startInsights(t, 'redis', config, redis.url)
  const d = await device(t, first, 'keep-1', { fw: '3.0.0', boot: 9 })
  await until(first, 'keep-1', (s) => s.fw === '3.0.0', 'fw')
  d.stream.destroy()
  await until(first, 'keep-1', (s) => s.state === 'offline', 'offline')
  await device(t, first, 'keep-1', { fw: '3.0.0', boot: 10 })
  await until(first, 'keep-1', (s) => s.restarts === 1, 'a reboot')
  await first.close()
  t.same((await check.lrange(historyKey('keep-1'), 0, -1)).map((e) => (JSON.parse(e) as { state: string }).state),
    ['online', 'offline', 'online', 'offline'], 'written, the shutdown included')
  const ttl = await check.pttl(historyKey('keep-1'))
  t.ok(ttl > 2 * 3_600_000 - 60_000 && ttl <= 2 * 3_600_000, `expires with forgetAfter (pttl ${ttl})`)

  const second = await startInsights(t, 'redis', config, redis.url)
  const history = await api<H>(second, '/api/devices/keep-1/history')
  t.equal(history.status, 200)
  t.same(history.body.transitions.map((e) => [e.state, e.reason]),
    [['online', null], ['offline', 'connection_lost'], ['online', null], ['offline', 'server_shutdown']], 'the history survived the restart')
  const status = (await api<{ restarts: number, fw: string, availability: Record<string, number> }>(second, '/api/devices/keep-1')).body
  t.equal(status.restarts, 1, 'restarts from the retained status')
  t.equal(status.fw, '3.0.0')
  t.ok(status.availability['1h']! > 0, 'availability from the stored history')
  await device(t, second, 'keep-1', { fw: '3.0.0', boot: 10 })
  const back = await until(second, 'keep-1', (s) => s.state === 'online', 'online')
  t.equal(back.restarts, 1, 'the count carries on after the restart, and the same boot counter is no reboot')
  // The status and the history are two reads: the transition's entry may land a moment after the state.
  const grown = await eventually(async () => (await api<H>(second, '/api/devices/keep-1/history')).body.transitions.length === 5, 5000)
  t.ok(grown, 'and the history grows')
  await device(t, second, 'keep-1', { fw: '3.0.0', boot: 11 })
  await until(second, 'keep-1', (s) => s.restarts === 2, 'a reboot against the boot counter stored before the restart')
})

t.test('[redis] a forgotten device (DELETE /api/devices) loses its history key', async (t) => {
  const redis = await startRedis(t)
  const broker = await startInsights(t, 'redis', {}, redis.url)
  const d = await device(t, broker, 'gone-1', { fw: '1.0.0', boot: 1 })
  await until(broker, 'gone-1', (s) => s.fw === '1.0.0', 'fw')
  const check = redis.client()
  await until(broker, 'gone-1', () => true, 'known')
  await eventually(async () => await check.exists(historyKey('gone-1')) === 1, 5000)
  t.equal(await check.exists(historyKey('gone-1')), 1, 'written within a tick')
  const res = await broker.http.inject({ method: 'DELETE', url: '/api/devices/gone-1' })
  t.equal(res.statusCode, 204)
  t.equal(d.connected, false, 'kicked')
  await eventually(async () => await check.exists(historyKey('gone-1')) === 0, 5000)
  t.equal(await check.exists(historyKey('gone-1')), 0, 'the history key is deleted')
})

t.test('[redis] any node answers: history written by the node holding the connection, flapping counted across nodes', async (t) => {
  const redis = await startRedis(t)
  const a = await startInsights(t, 'redis', {}, redis.url)
  const b = await startInsights(t, 'redis', {}, redis.url)
  let last = null as Awaited<ReturnType<typeof device>> | null
  for (let i = 1; i <= 6; i++) {
    last?.stream.destroy()
    // Connects alternate between the nodes, as behind a load balancer.
    last = await device(t, i % 2 === 0 ? b : a, 'roam-1', { fw: '1.0.0', boot: 3 })
    await until(a, 'roam-1', (s) => s.state === 'online' && s.epoch === i, `connect ${i} seen on a`)
    await until(b, 'roam-1', (s) => s.state === 'online' && s.epoch === i, `connect ${i} seen on b`)
  }
  for (const node of [a, b]) {
    t.equal((await api<{ flapping: number }>(node, '/api/fleet')).body.flapping, 1, `${node.nodeId}: flapping, from connects on both nodes`)
  }
  // Each node writes what it published within a tick; until then only it shows those entries.
  const epochs = async (node: typeof a): Promise<string> => JSON.stringify((await api<H>(node, '/api/devices/roam-1/history')).body.transitions.map((e) => e.epoch))
  await eventually(async () => await epochs(a) === await epochs(b), 5000)
  const onA = await api<H>(a, '/api/devices/roam-1/history')
  t.equal(await epochs(a), await epochs(b), 'both nodes answer the same history')
  t.same(onA.body.transitions.filter((e) => e.state === 'online').map((e) => e.node),
    [a.nodeId, b.nodeId, a.nodeId, b.nodeId, a.nodeId, b.nodeId], 'each connect, from the node that held it')
})

t.test('[redis] Redis away: history and availability answer 503 (retry), never 500; transitions wait and are written after', async (t) => {
  const redis = await startRedis(t)
  const broker = await startInsights(t, 'redis', {}, redis.url)
  const d = await device(t, broker, 'away-1', { fw: '1.0.0', boot: 1 })
  await until(broker, 'away-1', (s) => s.fw === '1.0.0', 'fw')
  await redis.stop()
  t.equal((await api(broker, '/api/devices/away-1/history')).status, 503)
  t.equal((await api(broker, '/api/devices/away-1')).status, 503)
  t.equal((await api(broker, '/api/devices?kind=all')).status, 200, 'the fleet view still answers')
  d.stream.destroy()
  await until(broker, 'away-1', (s) => s.state === 'offline', 'offline while Redis is away')
  await redis.restart()
  const check = redis.client()
  // The restarted Redis is empty: what the node still had queued is written to it.
  await eventually(async () => await check.llen(historyKey('away-1')).catch(() => 0) > 0, 10_000, 100)
  const states = (await check.lrange(historyKey('away-1'), 0, -1)).map((e) => (JSON.parse(e) as { state: string }).state)
  t.ok(states.includes('offline'), `the offline written once Redis is back (${states.join(', ')})`)
})

t.test('[redis] a reboot is seen when the device comes back on another node, or after a broker restart (baselines in Redis)', async (t) => {
  const redis = await startRedis(t)
  const a = await startInsights(t, 'redis', {}, redis.url)
  const b = await startInsights(t, 'redis', {}, redis.url)
  const onA = await device(t, a, 'move-1', { fw: '1.0.0', boot: 5 })
  await onA.publishAsync('devices/move-1/heartbeat', '{"uptime":900}', { qos: 1 })
  await onA.endAsync()
  await until(b, 'move-1', (s) => s.state === 'offline', 'offline, seen on b')
  // The baselines reach Redis within a tick of the birth and of the end of the connection.
  const check = redis.client()
  await eventually(async () => (await check.hget('vigil:insight:move-1', 'uptime')) === '900', 5000)
  t.same(await check.hgetall('vigil:insight:move-1'), { boot: '5', uptime: '900' })
  await device(t, b, 'move-1', { fw: '1.0.0', boot: 6 })
  const moved = await until(b, 'move-1', (s) => s.restarts === 1, 'a reboot seen by b')
  t.equal(moved.node, b.nodeId)
  t.equal(await metric(b, 'vigil_device_restarts_total'), 1, 'counted once, by the node that saw it')
  t.equal(await metric(a, 'vigil_device_restarts_total'), 0)
  const up = await device(t, b, 'move-2', null)
  await up.publishAsync('devices/move-2/heartbeat', '{"uptime":500}', { qos: 1 })
  up.stream.destroy()
  await until(a, 'move-2', (s) => s.state === 'offline', 'offline, seen on a')
  await eventually(async () => (await check.hget('vigil:insight:move-2', 'uptime')) === '500', 5000)
  const back = await device(t, a, 'move-2', null)
  await back.publishAsync('devices/move-2/heartbeat', '{"uptime":4}', { qos: 1 })
  await until(a, 'move-2', (s) => s.restarts === 1, 'uptime backwards, across nodes')
})
