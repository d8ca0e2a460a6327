/**
 * A delayed will keeps its own MQTT 5 properties (content type, payload
 * format, response topic, correlation data, user properties), in the memory
 * and the Redis delay store, whether the client's Will Delay Interval or
 * `wills.delay` held it; the stamp's vigil-reason / vigil-ts come after the
 * will's own user properties and the Will Delay Interval is never passed on.
 * Real broker, mqtt.js v5 clients, a real redis-server.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { mosquittoSubV5 } from '../helpers/mosquitto.js'
import { startRedis } from '../helpers/redis.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import type { VigilConfigInput } from '../../config/schema.js'
import { dropConnection, JSON_WILL } from './wills-helpers.js'
import { checkWillProperties, watch5, WILL_PROPERTIES } from './wills-v5-props.js'

const v5 = { protocolVersion: 5 as const }

// Every case has its own broker (and Redis) and mostly waits out a 1 s delay: three at a time.
t.jobs = 3

for (const mode of ['memory', 'redis'] as const) {
  for (const by of ['Will Delay Interval', 'wills.delay'] as const) {
    t.test(`[${mode}] a will delayed by its ${by} keeps its MQTT 5 properties`, { timeout: 60_000 }, async (t) => {
      const config: VigilConfigInput = { wills: { tsUnit: 'ms', ...(by === 'wills.delay' ? { delay: '1s' } : {}) } }
      if (mode === 'redis') config.persistence = { redis: (await startRedis(t)).url }
      const broker = await startBroker(t, config)
      const w = await watch5(t, broker.url, ['devices/#'])
      const id = `v5-props-${mode}-${by === 'wills.delay' ? 'cfg' : 'own'}`
      const properties = { ...WILL_PROPERTIES, ...(by === 'Will Delay Interval' ? { willDelayInterval: 1 } : {}) }
      const dev = await connectClient(t, broker.url, {
        ...v5,
        clientId: id,
        properties: { sessionExpiryInterval: 30 },
        will: { topic: `devices/${id}/status`, payload: Buffer.from(JSON_WILL), qos: 1, retain: false, properties } as never
      })
      const diedAt = dropConnection(dev)
      const will = await waitFor(() => w.received.find((m) => m.topic === `devices/${id}/status`), 10_000, 'the delayed will')
      t.ok(Date.now() - diedAt >= 900, 'it was held for the delay')
      checkWillProperties(t, will, 'connection_lost')
    })
  }
}

t.test('mosquitto_sub -V mqttv5 gets a will delayed by its Will Delay Interval with its content type, payload format, response topic and user properties', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker(t, { wills: { tsUnit: 'ms' } })
  const probe = await connectClient(t, broker.url)
  // Subscribed once a probe message comes back through it.
  const sub = await mosquittoSubV5(t, broker.ports.mqtt, 'mosq-v5-will', '%t|%C|%F|%R|%P', async () => await probe.publishAsync('devices/probe', 'p', { qos: 1 }))
  t.ok(sub.output().includes('devices/probe'), 'mosquitto_sub is subscribed')
  const dev = await connectClient(t, broker.url, {
    ...v5,
    clientId: 'v5-mosq-will',
    properties: { sessionExpiryInterval: 30 },
    will: { topic: 'devices/v5-mosq-will/status', payload: Buffer.from(JSON_WILL), qos: 1, retain: false, properties: { ...WILL_PROPERTIES, willDelayInterval: 1 } } as never
  })
  dropConnection(dev)
  await waitFor(() => sub.output().includes('devices/v5-mosq-will/status'), 10_000, 'the delayed will at mosquitto_sub')
  const line = sub.output().split('\n').find((l) => l.startsWith('devices/v5-mosq-will/status'))!
  const [, contentType, format, responseTopic, userProperties] = line.split('|')
  t.equal(contentType, 'application/json', 'content type')
  t.equal(format, '1', 'payload format indicator')
  t.equal(responseTopic, 'replies/will', 'response topic')
  t.match(userProperties, /site:north/, 'the will\'s own user property')
  t.match(userProperties, /vigil-reason:connection_lost/, 'vigil-reason')
  t.match(userProperties, /vigil-ts:\d+/, 'vigil-ts')
})
