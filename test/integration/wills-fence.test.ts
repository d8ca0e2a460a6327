import t from 'tap'
import { epochKey } from '../../plugins/liveness/epochs.js'
import { realScheduler } from '../../broker/scheduler.js'
import { FENCE_TTL_MS, redisPublishFence } from '../../plugins/wills/publish-fence.js'
import { startRedis } from '../helpers/redis.js'
import { nextTurn } from '../support/wait.js'

t.test('the will publish fence orders a will before a reconnect elsewhere (real Redis)', async (t) => {
  const redis = await startRedis(t)
  const db = redis.client()
  const fence = redisPublishFence(db, realScheduler())

  await db.set(epochKey('dev-f'), 3)
  t.equal(await fence.open('dev-f', 2), false, 'a will of an older epoch is refused')
  t.equal(await fence.open('dev-f', 3), true, 'the current epoch\'s will may go out')

  let cleared = false
  const waiting = fence.waitClear('dev-f').then(() => { cleared = true })
  // Barrier: a command on the same connection after waitClear's first look at the fence; its
  // reply comes after that one, so waitClear has seen the fence and chosen to wait.
  await db.ping()
  await nextTurn()
  t.equal(cleared, false, 'a reconnect waits while the will is in flight')
  await fence.close('dev-f')
  const started = Date.now()
  await waiting
  t.ok(Date.now() - started < 500, 'and goes on once it is out')

  await fence.open('dev-f', 3)
  const stuckStarted = Date.now()
  await fence.waitClear('dev-f')
  const waited = Date.now() - stuckStarted
  t.ok(waited >= FENCE_TTL_MS - 200 && waited < FENCE_TTL_MS + 1000, `a fence never released holds a reconnect only its TTL (${waited} ms)`)
  t.equal(await fence.open('unknown', 0), true, 'no epoch yet: the will goes out')
})
