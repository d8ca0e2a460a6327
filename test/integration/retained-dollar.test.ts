/**
 * [MQTT-4.7.2-1] Retained messages on '$' topics reach only subscriptions that
 * themselves start with '$', on a broker with no plugins at all (the fix is in
 * the broker's composition, broker/aedes/retained-visibility.ts), in memory and
 * Redis mode. Aedes 1.2 alone hands them to '#' and '+/...'.
 */
import t from 'tap'
import type { VigilConfigInput } from '../../config/schema.js'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'
import { retainedBarrier } from '../support/retained.js'
import type { Teardown } from '../support/teardown.js'
import { passBarrier } from '../support/wait.js'

interface T extends Teardown {
  same(found: unknown, wanted: unknown, message: string): void
  notOk(value: unknown, message: string): void
}

async function scenario (t: T, override: VigilConfigInput): Promise<void> {
  const broker = await startBroker(t, override, { plugins: [] })
  const pub = await connectClient(t, broker.url, { clientId: 'dollar-pub' })
  await pub.publishAsync('$app/config/a', 'dollar', { qos: 1, retain: true })
  await pub.publishAsync('plain/config/a', 'plain', { qos: 1, retain: true })

  const wild = await connectClient(t, broker.url, { clientId: 'dollar-wild' })
  const wildReceived = collect(wild)
  await subscribe(wild, ['#', '+/config/a'], 1)
  const dollar = await connectClient(t, broker.url, { clientId: 'dollar-explicit' })
  const dollarReceived = collect(dollar)
  await subscribe(dollar, '$app/#', 1)
  const both = await connectClient(t, broker.url, { clientId: 'dollar-both' })
  const bothReceived = collect(both)
  await subscribe(both, ['#', '$app/config/+'], 1)

  await waitFor(() => wildReceived.some((m) => m.topic === 'plain/config/a'), 3000, 'the plain retained message for #')
  await waitFor(() => dollarReceived[0], 3000, 'the $ retained message for $app/#')
  await waitFor(() => bothReceived.some((m) => m.topic === '$app/config/a'), 3000, 'the $ retained message for $app/config/+')
  for (const [client, received] of [[wild, wildReceived], [dollar, dollarReceived], [both, bothReceived]] as const) {
    await retainedBarrier(broker, client, received)
  }
  t.same(wildReceived.map((m) => m.topic), ['plain/config/a'],
    "'#' and '+/config/a' get no retained $ message, and the plain one once although both match it")
  t.same(dollarReceived.map((m) => [m.topic, m.payload.toString(), m.retain]), [['$app/config/a', 'dollar', true]],
    'a $ filter gets the $ retained message')
  t.same(bothReceived.map((m) => m.topic).sort(), ['$app/config/a', 'plain/config/a'],
    'one SUBSCRIBE with # and a $ filter: each retained message once, the $ one through the $ filter')

  // Live $ messages were already right in Aedes; they stay right.
  await pub.publishAsync('$app/config/b', 'live', { qos: 1 })
  await waitFor(() => dollarReceived.some((m) => m.topic === '$app/config/b'), 3000, 'the live $ message')
  // Barrier: a plain message from the same publisher after it; '#' gets it, and would have got the $ one first.
  await passBarrier({ send: () => pub.publishAsync('plain/barrier', 'b', { qos: 1 }), arrived: () => wildReceived.some((m) => m.topic === 'plain/barrier') })
  t.notOk(wildReceived.some((m) => m.topic.startsWith('$')), 'no live $ message for #')
}

t.test('memory mode', async (t) => { await scenario(t, {}) })

t.test('Redis mode', { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
  const redis = await startRedis(t)
  await scenario(t, { persistence: { redis: redis.url } })
})
