/**
 * Local-first routing in Redis mode: a message whose subscribers are all on the
 * publishing node never goes through Redis; other nodes get it through Redis,
 * in publish order, each node once. Watched from Redis itself: a PSUBSCRIBE on
 * the nodes' channels sees every message that crosses Redis.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

interface Crossing { channel: string, text: string }

/** The other nodes node `broker` would send a message on `topic` to. */
const routed = (broker: { broker: unknown }, topic: string): string[] =>
  (broker.broker as { mq: { routedNodes(topic: string): string[] } }).mq.routedNodes(topic)

t.test('local deliveries skip Redis; remote ones cross it once per node, in order', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { node: { id: 'lf-a' }, persistence: { redis: redis.url } })
  const b = await startBroker(t, { node: { id: 'lf-b' }, persistence: { redis: redis.url } })

  const spy = redis.client()
  const crossings: Crossing[] = []
  spy.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, payload: Buffer) => {
    crossings.push({ channel: channel.toString(), text: payload.toString('latin1') })
  })
  await spy.psubscribe('vigil:mq:*')
  /** The messages on `topic` that crossed Redis (the topic is in the encoded message). */
  const crossed = (topic: string): Crossing[] => crossings.filter((c) => c.text.includes(topic))

  // Both on node A: subscriber and publisher.
  const localSub = await connectClient(t, a.url, { clientId: 'lf-local-sub' })
  const localGot = collect(localSub)
  await subscribe(localSub, ['lf/local', 'lf/shared'], 1)
  // Node B subscribes to the shared topic only.
  const remoteSub = await connectClient(t, b.url, { clientId: 'lf-remote-sub' })
  const remoteGot = collect(remoteSub)
  await subscribe(remoteSub, 'lf/shared', 1)
  // The route reaches node A through Redis.
  await waitFor(() => routed(a, 'lf/shared').includes('lf-b') || null, 5000, 'a route from node B')

  const pub = await connectClient(t, a.url, { clientId: 'lf-pub' })
  const COUNT = 200
  for (let i = 0; i < COUNT; i++) pub.publish('lf/local', `l${i}`)
  for (let i = 0; i < COUNT; i++) pub.publish('lf/shared', `s${i}`)
  // Barrier: a QoS 1 message after them, on the shared topic, has crossed Redis last.
  await pub.publishAsync('lf/shared', 'end', { qos: 1 })
  await waitFor(() => remoteGot.some((m) => m.payload.toString() === 'end') || null, 10_000, 'the barrier at node B')
  await waitFor(() => localGot.some((m) => m.payload.toString() === 'end') || null, 10_000, 'the barrier at node A')

  t.equal(localGot.filter((m) => m.topic === 'lf/local').length, COUNT, 'node A delivered every local message')
  t.equal(crossed('lf/local').length, 0, 'no message of the local-only topic crossed Redis')
  t.same(remoteGot.map((m) => m.payload.toString()), [...Array.from({ length: COUNT }, (_, i) => `s${i}`), 'end'],
    'node B got every shared message once, in publish order')
  t.same(localGot.filter((m) => m.topic === 'lf/shared').map((m) => m.payload.toString()),
    [...Array.from({ length: COUNT }, (_, i) => `s${i}`), 'end'], 'node A delivered its own messages once, in order (never back from Redis)')
  t.equal(crossed('lf/shared').length, COUNT + 1, 'each shared message crossed Redis once (one node interested)')
  t.ok(crossed('lf/shared').every((c) => c.channel === 'vigil:mq:lf-b'), 'on node B\'s own channel')

  // B unsubscribes: the route goes, and the topic stops crossing Redis.
  await remoteSub.unsubscribeAsync('lf/shared')
  const before = crossed('lf/shared').length
  // B subscribes to a new topic; its route is announced after the removal, on the same connection,
  // so once node A routes 'lf/later' to B it no longer routes 'lf/shared' there.
  await subscribe(remoteSub, 'lf/later', 1)
  await waitFor(() => routed(a, 'lf/later').includes('lf-b') || null, 5000, 'the new route at node A')
  t.same(routed(a, 'lf/shared'), [], 'the removed route is gone at node A')
  for (let i = 0; i < 20; i++) pub.publish('lf/shared', `after${i}`)
  await pub.publishAsync('lf/later', 'later', { qos: 1 })
  await waitFor(() => remoteGot.some((m) => m.topic === 'lf/later') || null, 10_000, 'the new route works')
  t.equal(crossed('lf/shared').length, before, 'after the unsubscribe, the shared topic no longer crosses Redis')
  t.notOk(remoteGot.some((m) => m.payload.toString().startsWith('after')), 'and node B no longer receives it')
})

t.test('with Redis gone, clients of one node keep talking to each other (QoS 0)', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const a = await startBroker(t, { node: { id: 'lf-solo' }, persistence: { redis: redis.url } })
  const sub = await connectClient(t, a.url, { clientId: 'lf-solo-sub' })
  const got = collect(sub)
  await subscribe(sub, 'lf/solo', 0)
  const pub = await connectClient(t, a.url, { clientId: 'lf-solo-pub' })
  await redis.stop()
  for (let i = 0; i < 10; i++) pub.publish('lf/solo', `m${i}`)
  await waitFor(() => got.length >= 10 || null, 5000, 'ten messages with Redis down')
  t.same(got.map((m) => m.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i}`), 'delivered, in order, without Redis')
})
