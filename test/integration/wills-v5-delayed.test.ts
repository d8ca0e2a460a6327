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
import { startRedis } from '../helpers/redis.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import type { VigilConfigInput } from '../../config/schema.js'
import { dropConnection, JSON_WILL } from './wills-helpers.js'
import { checkWillProperties, watch5, WILL_PROPERTIES } from './wills-v5-props.js'

const v5 = { protocolVersion: 5 as const }

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
