/**
 * The retained sweeper on injected time: a ManualScheduler is its clock and
 * its timer, so each sweep happens exactly when time is moved to it, never
 * in between, and never after stop().
 */
import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import type { Due } from '../../plugins/retained/due-index.js'
import { MemoryRetainedStore } from '../../plugins/retained/store-memory.js'
import { Sweeper, type SweepResult } from '../../plugins/retained/sweeper.js'

const INTERVAL = 1000

function harness (batchSize = 10) {
  const scheduler = new ManualScheduler(0)
  // The persistence holds the retained topics of the harness (reconcile adopts unknown ones).
  const persisted = new Set<string>()
  const store = new MemoryRetainedStore(async function * () { yield [...persisted] })
  const sweeps: Array<SweepResult & { at: number }> = []
  const expired: Array<{ topics: string[], now: number }> = []
  let reconciled = 0
  const sweeper = new Sweeper({
    store,
    scheduler,
    batchSize,
    expire: async (batch: Due[], now: number) => {
      expired.push({ topics: batch.map((d) => d.key), now })
      for (const due of batch) persisted.delete(due.key)
      return batch.length
    },
    reconcile: async () => { reconciled++; await store.reconcile(scheduler.now(), () => 5000) },
    onError: (err) => { throw err },
    onSweep: (result) => sweeps.push({ ...result, at: scheduler.now() })
  })
  /**
   * Move time by `ms`, then let a sweep that fell due (an async walk of the in-memory store,
   * a few loop turns) finish and arm the next one. Nothing else runs in this process meanwhile.
   */
  const step = async (ms: number): Promise<void> => {
    scheduler.advance(ms)
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  }
  return { scheduler, store, persisted, sweeper, sweeps, expired, step, reconciled: () => reconciled }
}

t.test('the first sweep runs at start (after reconciling), the next ones every interval of injected time', async (t) => {
  const h = harness()
  h.persisted.add('old/topic')
  h.store.record('a', 0, 2500)
  h.persisted.add('a')
  h.sweeper.start(INTERVAL)
  t.equal(h.sweeps.length, 0, 'nothing runs before time moves')
  t.equal(h.scheduler.pending, 1, 'one timer armed')

  await h.step(0)
  t.equal(h.reconciled(), 1, 'the first sweep reconciled with the persistence')
  t.same(h.expired, [], 'nothing due at 0')
  t.equal(h.scheduler.pending, 1, 'the next sweep is armed once the first finished')

  await h.step(INTERVAL - 1)
  t.same(h.expired, [], 'no sweep 1 ms before the interval')
  await h.step(1)
  await h.step(INTERVAL)
  t.same(h.expired, [], 'sweeps at 1000 and 2000 find nothing due yet')
  await h.step(INTERVAL)
  t.same(h.expired, [{ topics: ['a'], now: 3000 }], 'the sweep at 3000 expires what fell due at 2500, with the sweep\'s own instant')
  await h.step(INTERVAL)
  await h.step(INTERVAL)
  t.same(h.expired.map((e) => e.topics), [['a'], ['old/topic']], 'a topic adopted at 0 (maxAge 5000) expires at the first sweep from 5000')
  t.equal(h.expired[1]?.now, 5000)
  t.equal(h.reconciled(), 1, 'reconciled once only')
  t.same(h.sweeps.map((s) => s.at), [0, 1000, 2000, 3000, 4000, 5000], 'one sweep per interval, each at its due time')
  await h.sweeper.stop()
})

t.test('stop() cancels the armed sweep: moving time afterwards sweeps nothing', async (t) => {
  const h = harness()
  h.store.record('b', 0, 1500)
  h.sweeper.start(INTERVAL)
  await h.step(0)
  await h.sweeper.stop()
  t.equal(h.scheduler.pending, 0, 'no timer left')
  h.scheduler.advance(10 * INTERVAL)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(h.expired, [], 'the due topic is left for the next start')
})

t.test('a sweep takes what is due in batches and reports them', async (t) => {
  const h = harness(2)
  for (const topic of ['c1', 'c2', 'c3', 'c4', 'c5']) h.store.record(topic, 0, 100)
  h.sweeper.start(INTERVAL)
  await h.step(0)
  await h.step(INTERVAL)
  t.match(h.sweeps[0], { at: 0, expired: 0 }, 'nothing is due at 0')
  t.match(h.sweeps[1], { at: 1000, expired: 5, batches: 3 }, 'at 1000: five due topics in batches of two')
  t.same(h.expired.map((e) => e.topics.length), [2, 2, 1], 'batches of at most two')
  t.same(h.expired.flatMap((e) => e.topics).sort(), ['c1', 'c2', 'c3', 'c4', 'c5'], 'each due topic taken once')
  await h.sweeper.stop()
})
