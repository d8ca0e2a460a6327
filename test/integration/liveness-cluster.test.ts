/**
 * Liveness across nodes sharing one Redis (issue 3): takeover from another
 * node, epochs and statuses surviving a restart, and a lost node.
 */
import t from 'tap'
import type { ConnectionEnd } from '../../plugins/liveness/service.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { heartbeatHeard, observe, startFleet, type Fleet } from './liveness-scenarios.js'

type Observer = Awaited<ReturnType<typeof observe>>

/** A rule names every client, so clients without a will are devices from their CONNECT, not observers. */
const ALL_DEVICES = { liveness: { rules: [{ clients: '*' }] } }

/**
 * Once every surviving node's fleet view has the loss, each has published it or
 * learned it; a barrier status through each node then comes after any duplicate.
 */
async function lossSeenEverywhere (nodes: Fleet[], clientId: string, obs: Observer): Promise<void> {
  await waitFor(() => nodes.every((n) => n.broker.services.need('liveness').get(clientId)?.reason === 'node_lost'), 10_000, `every node to see ${clientId} lost`)
  for (const n of nodes) await obs.barrier(n.broker.url)
}

const willOf = (id: string) => ({ topic: `wills/${id}`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1 as const, retain: false })

// Every case has its own Redis and nodes and mostly waits on heartbeats: two at a time.
t.jobs = 2

t.test('the same clientId connecting to another node: online with epoch + 1 there, no offline for the old connection', async (t) => {
  const redis = await startRedis(t)
  const a = await startFleet(t, 'redis', {}, redis.url)
  const b = await startFleet(t, 'redis', {}, redis.url)
  const onA = await observe(t, a.broker.url)
  const onB = await observe(t, b.broker.url)
  const first = await connectClient(t, a.broker.url, { clientId: 'roamer-1', will: willOf('roamer-1') })
  const old = await onB.waitFor('roamer-1', (s) => s.state === 'online', 5000, 'online seen from the other node')
  t.equal(old.node, a.broker.nodeId)
  t.equal(b.broker.services.need('liveness').get('roamer-1')?.node, a.broker.nodeId, 'node B\'s fleet view has it')
  const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()))
  await connectClient(t, b.broker.url, { clientId: 'roamer-1' })
  await firstClosed
  for (const obs of [onA, onB]) {
    const fresh = await obs.waitFor('roamer-1', (s) => s.epoch === old.epoch + 1, 5000, 'the new epoch')
    t.equal(fresh.state, 'online')
    t.equal(fresh.node, b.broker.nodeId)
  }
  t.equal(a.ends.get('roamer-1')?.reason, 'takeover', 'node A: endOf says takeover while the old will passes')
  // Barrier: a status through node A (where the old connection ended), after anything it published for it.
  for (const obs of [onA, onB]) await obs.barrier(a.broker.url)
  for (const obs of [onA, onB]) {
    t.same(obs.of('roamer-1').map((s) => [s.state, s.epoch]), [['online', old.epoch], ['online', old.epoch + 1]],
      'no offline was ever published for the old connection')
  }
  for (const broker of [a.broker, b.broker]) {
    t.equal(broker.services.need('liveness').get('roamer-1')?.epoch, old.epoch + 1)
  }
  const late = await observe(t, a.broker.url)
  await waitFor(() => late.of('roamer-1').length > 0, 3000, 'the retained status')
  t.same(late.of('roamer-1').map((s) => [s.state, s.epoch, s.node]), [['online', old.epoch + 1, b.broker.nodeId]])
})

t.test('statuses and epochs survive a restart on the same Redis', async (t) => {
  const redis = await startRedis(t)
  const first = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  await connectClient(t, first.broker.url, { clientId: 'survivor-1' })
  await waitFor(() => first.broker.services.need('liveness').get('survivor-1'), 3000, 'online')
  const epoch = first.broker.services.need('liveness').get('survivor-1')!.epoch
  await first.broker.close()
  const second = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const loaded = second.broker.services.need('liveness').get('survivor-1')
  t.equal(loaded?.state, 'offline', 'the stored status is in the new node\'s fleet view at start')
  t.equal(loaded?.reason, 'server_shutdown')
  t.equal(second.broker.services.need('liveness').counts().offline >= 1, true)
  await connectClient(t, second.broker.url, { clientId: 'survivor-1' })
  await waitFor(() => second.broker.services.need('liveness').get('survivor-1')?.state === 'online', 3000, 'online')
  t.equal(second.broker.services.need('liveness').get('survivor-1')?.epoch, epoch + 1, 'the epoch continues in Redis')
})

t.test('a node that stops beating: its clients go offline with reason node_lost, since its last heartbeat, once', async (t) => {
  const redis = await startRedis(t)
  const a = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const b = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const c = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const onB = await observe(t, b.broker.url)
  await connectClient(t, a.broker.url, { clientId: 'stranded-1' })
  await onB.waitFor('stranded-1', (s) => s.state === 'online', 5000, 'online')
  await Promise.all([heartbeatHeard(b.broker, a.broker.broker.id), heartbeatHeard(c.broker, a.broker.broker.id)]) // b and c hear a's heartbeat
  // Node A "dies": its Aedes heartbeat stops (the process is frozen as far as the cluster can tell).
  clearInterval((a.broker.broker as unknown as { _heartbeatInterval: NodeJS.Timeout })._heartbeatInterval)
  const stoppedAt = Date.now()
  const lost = await onB.waitFor('stranded-1', (s) => s.state === 'offline', 6000, 'node_lost')
  t.equal(lost.reason, 'node_lost')
  t.ok(lost.since <= stoppedAt + 50 && lost.since >= stoppedAt - 600, 'since is the node\'s last heartbeat')
  await lossSeenEverywhere([b, c], 'stranded-1', onB)
  t.equal(onB.of('stranded-1').filter((s) => s.state === 'offline').length, 1, 'published once, cluster-wide')
  t.equal(c.broker.services.need('liveness').get('stranded-1')?.reason, 'node_lost')
  const ends: ConnectionEnd[] = [...a.ends.values()]
  t.same(ends, [], 'no will went out through node A')
})

t.test('a node lost, back, and lost again: the second loss is reported too', async (t) => {
  const redis = await startRedis(t)
  const a = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const b = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const c = await startFleet(t, 'redis', ALL_DEVICES, redis.url)
  const onB = await observe(t, b.broker.url)
  const aedesA = a.broker.broker as unknown as { id: string, _heartbeatInterval: NodeJS.Timeout, publish(p: object, cb: () => void): void }
  await connectClient(t, a.broker.url, { clientId: 'twice-1' })
  await onB.waitFor('twice-1', (s) => s.state === 'online', 5000, 'online')
  await Promise.all([heartbeatHeard(b.broker, aedesA.id), heartbeatHeard(c.broker, aedesA.id)])
  clearInterval(aedesA._heartbeatInterval)
  const first = await onB.waitFor('twice-1', (s) => s.state === 'offline', 6000, 'first node_lost')
  t.equal(first.reason, 'node_lost')
  // Node A beats again (a frozen process thawing), a client connects there, then A stops again.
  const beat = (): void => aedesA.publish({ topic: `$SYS/${aedesA.id}/heartbeat`, payload: Buffer.from(aedesA.id) }, () => {})
  beat()
  const beating = setInterval(beat, 500)
  t.teardown(() => clearInterval(beating))
  await connectClient(t, a.broker.url, { clientId: 'twice-2' })
  await onB.waitFor('twice-2', (s) => s.state === 'online', 5000, 'online on the thawed node')
  await Promise.all([heartbeatHeard(b.broker, aedesA.id), heartbeatHeard(c.broker, aedesA.id)])
  clearInterval(beating)
  const second = await onB.waitFor('twice-2', (s) => s.state === 'offline', 6000, 'second node_lost')
  t.equal(second.reason, 'node_lost', 'the second loss of the same node is reported')
  await lossSeenEverywhere([b, c], 'twice-2', onB)
  t.equal(onB.of('twice-2').filter((s) => s.state === 'offline').length, 1, 'once, cluster-wide')
  t.equal(c.broker.services.need('liveness').get('twice-2')?.reason, 'node_lost', 'every node sees it')
})
