/**
 * The one delay store in Redis (wills.delay): a connection's offline status
 * (written by liveness) and its will (written by wills) join one entry, a
 * reconnect cancels both, and each due entry is claimed by exactly one node.
 */
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { redisDelayStore } from '../../plugins/liveness/delay-store-redis.js'
import type { ClientStatus, DelayedEnd } from '../../plugins/liveness/service.js'

const status = (clientId: string, epoch: number): ClientStatus => ({
  clientId, state: 'offline', since: 1000, connectedAt: 500, lastHeartbeat: 900, lastPacket: 950,
  reason: 'connection_lost', epoch, node: 'vigil-a', kind: 'device'
})
const statusPart = (clientId: string, epoch: number, due: number): DelayedEnd =>
  ({ clientId, epoch, due, status: { status: status(clientId, epoch), topic: `$liveness/${clientId}` }, will: null })
const willPart = (clientId: string, epoch: number | undefined, due: number): DelayedEnd =>
  ({ clientId, epoch, due, status: null, will: { topic: `devices/${clientId}/status`, payload: Buffer.from([0, 1, 255]), qos: 1, retain: true, reason: 'connection_lost', at: 1000 } })

t.test('a status and a will of one connection join in Redis; a reconnect cancels both; one node claims each', async (t) => {
  const redis = await startRedis(t)
  const a = redisDelayStore(redis.client())
  const b = redisDelayStore(redis.client())
  await a.put(statusPart('dev-1', 3, 3000))
  await b.put(willPart('dev-1', 3, 3000))
  await a.put(willPart('dev-1', 2, 2000))
  const [x, y] = await Promise.all([a.takeDue(3000), b.takeDue(3000)])
  const taken = [...x, ...y]
  t.equal(taken.length, 1, 'one entry, claimed once')
  t.same(taken[0]?.status?.status, status('dev-1', 3), 'the status, as liveness wrote it')
  t.same(taken[0]?.will?.payload, Buffer.from([0, 1, 255]), 'the will beside it, byte-exact (the older connection\'s was refused)')
  t.equal(taken[0]?.epoch, 3)

  await a.put(statusPart('dev-2', 5, 4000))
  await b.put(willPart('dev-2', 5, 4000))
  t.equal(await b.cancel('dev-2', 5), undefined, 'the same epoch does not cancel')
  const cancelled = await b.cancel('dev-2', 6)
  t.equal(cancelled?.status?.status.epoch, 5, 'a newer connection cancels the status')
  t.equal(cancelled?.will?.topic, 'devices/dev-2/status', 'and the will with it')
  t.same(await a.takeDue(10_000), [], 'nothing left to publish')

  await a.put(willPart('lost', undefined, 1000))
  t.equal((await b.cancel('lost', undefined))?.will?.topic, 'devices/lost/status', 'forgetting cancels whatever the epoch')
})
