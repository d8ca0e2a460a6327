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
import { sleep } from '../helpers/clients.js'
import { runLoad } from './redis-faults-helpers.js'

t.test('Redis SIGKILLed and restarted under QoS 1 load: every acknowledged message reaches every persistent subscriber', { timeout: 90_000 }, async (t) => {
  const redis = await startRedis(t, { aof: true })
  const a = await startBroker(t, { persistence: { redis: redis.url } })
  const b = await startBroker(t, { persistence: { redis: redis.url } })
  let killedAt = 0
  const result = await runLoad(t, {
    publisherUrl: b.url,
    subscriberUrl: a.url,
    subscribers: 20,
    messages: 400,
    rate: 200,
    faultAt: 150,
    fault: async () => {
      await redis.stop()
      killedAt = Date.now()
      await sleep(5000)
      await redis.restart()
    }
  })
  t.comment(`redis SIGKILL + restart after 5 s: ${result.acked} of 400 acknowledged, ${result.lost} acknowledged deliveries lost, ` +
    `${result.duplicates} duplicates (20 subscribers; killed ${killedAt > 0 ? 'at message 150' : 'never'})`)
  t.equal(result.acked, 400, 'the publisher got every message acknowledged in the end (it re-sends the refused ones)')
  t.equal(result.lost, 0, `no acknowledged message is lost (first missing: ${result.sample.join(', ')})`)
})
