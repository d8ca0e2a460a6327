/**
 * Wills that Aedes alone would lose: the new will after a same-node takeover
 * (the old connection's close deletes the stored will by clientId and node),
 * and the wills of a node that crashed and came back under the same node id
 * (its id looks alive again, so no sweep ever takes them).
 */
import t from 'tap'
import { createVigil } from '../../broker/server.js'
import { disconnected, startBroker } from '../helpers/broker.js'
import { waitFor } from '../helpers/clients.js'
import { testConfig } from '../helpers/config.js'
import { startRedis } from '../helpers/redis.js'
import { startVigilProcess } from '../helpers/vigil-process.js'
import { retainedOn } from '../support/retained.js'
import { JSON_WILL, parse, willClient } from './wills-helpers.js'
import { freePort } from '../support/ports.js'

t.test('after a same-node takeover the new connection\'s will is still stored (Redis mode)', async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  const db = redis.client()
  const key = `will:${broker.nodeId}:dev-t`
  await willClient(t, broker.url, 'dev-t', { topic: 'devices/dev-t/status', payload: '{"state":"offline","ts":0,"conn":1}' })
  await waitFor(async () => await db.exists(key) === 1, 5000, 'the first will stored').catch(() => {})
  t.equal(await db.exists(key), 1, 'the first connection\'s will is stored')
  const oldClosed = disconnected(broker, 'dev-t')
  await willClient(t, broker.url, 'dev-t', { topic: 'devices/dev-t/status', payload: '{"state":"offline","ts":0,"conn":2}' })
  await oldClosed
  // Barrier: a client with a will leaves gracefully after the old connection closed. Aedes deletes
  // stored wills through one persistence connection, in order: once this one's key is gone, the
  // old close's delete (which took the new will with it) has run, and only the restore can bring it back.
  const barrierKey = `will:${broker.nodeId}:dev-barrier`
  const barrier = await willClient(t, broker.url, 'dev-barrier', { topic: 'devices/dev-barrier/status', payload: '{}' })
  await waitFor(async () => await db.exists(barrierKey) === 1, 5000, 'the barrier will stored')
  await barrier.endAsync()
  await waitFor(async () => await db.exists(barrierKey) === 0, 5000, 'the barrier will deleted')
  await waitFor(async () => await db.exists(key) === 1, 5000, 'the new will stored again').catch(() => {})
  t.equal(await db.exists(key), 1, 'the new connection\'s will survives the old connection\'s close')
  t.ok((await db.getBuffer(key))?.includes(Buffer.from('"conn":2')), 'and it is the new will')
})

t.test('a node that crashed and restarts under the same id publishes its previous run\'s wills, node_lost', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const port = await freePort()
  const nodeId = 'phoenix'
  const { child, url } = await startVigilProcess(t, {
    VIGIL_NODE_ID: nodeId,
    VIGIL_PERSISTENCE_REDIS: redis.url,
    VIGIL_MQTT_PORT: String(port),
    VIGIL_MQTT_WS: 'null',
    VIGIL_HTTP: 'null',
    VIGIL_WILLS_TS_UNIT: 'ms',
    VIGIL_LOG_LEVEL: 'warn'
  })
  const device = await willClient(t, url, 'dev-crash', { topic: 'devices/dev-crash/status', payload: JSON_WILL })
  await device.publishAsync('devices/dev-crash/heartbeat', '{"uptime":1}', { qos: 1 })
  const lastPacket = Date.now()
  const db = redis.client()
  await waitFor(async () => await db.exists(`will:${nodeId}:dev-crash`) === 1, 5000, 'the will stored in Redis')
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))

  const config = testConfig({ node: { id: nodeId }, persistence: { redis: redis.url }, wills: { tsUnit: 'ms' } })
  const again = createVigil(config)
  await again.start()
  t.teardown(() => again.close())
  // The restarted node publishes its previous run's wills shortly after start-up.
  const retained = await retainedOn(t, { url: `mqtt://127.0.0.1:${again.ports.mqtt}`, broker: again.broker }, 'devices/dev-crash/status', { until: (p) => p !== null })
  t.ok(retained !== null, 'the will was published')
  const will = parse(retained!)
  t.equal(will.reason, 'node_lost')
  t.equal(will.x, 1, 'other fields kept')
  t.ok(Math.abs(Number(will.ts) - lastPacket) < 1000, `ts ${String(will.ts)} is the last packet seen (${lastPacket}), not the restart`)
  t.equal(await db.exists(`will:${nodeId}:dev-crash`), 0, 'and it left persistence')
})
