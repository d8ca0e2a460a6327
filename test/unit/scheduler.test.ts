import t from 'tap'
import { ManualScheduler, realScheduler } from '../../broker/scheduler.js'

t.test('a manual scheduler runs due tasks in time order, each at its own time', async (t) => {
  const s = new ManualScheduler(1000)
  const seen: Array<[string, number]> = []
  s.after(30, () => seen.push(['b', s.now()]))
  s.after(10, () => seen.push(['a', s.now()]))
  s.after(30, () => seen.push(['c', s.now()]))
  s.advance(29)
  t.same(seen, [['a', 1010]])
  t.equal(s.now(), 1029)
  s.advance(1)
  t.same(seen, [['a', 1010], ['b', 1030], ['c', 1030]], 'ties run in scheduling order')
  t.equal(s.pending, 0)
})

t.test('an interval repeats until cancelled, and a task scheduled while advancing runs if due', async (t) => {
  const s = new ManualScheduler()
  const ticks: number[] = []
  const task = s.every(100, () => {
    ticks.push(s.now())
    if (ticks.length === 2) s.after(50, () => ticks.push(-s.now()))
  })
  s.advance(350)
  t.same(ticks, [100, 200, -250, 300])
  task.cancel()
  s.advance(1000)
  t.same(ticks, [100, 200, -250, 300], 'nothing after cancel')
  t.throws(() => s.every(0, () => {}), RangeError)
})

t.test('a cancelled one-shot never runs', async (t) => {
  const s = new ManualScheduler()
  let ran = false
  s.after(5, () => { ran = true }).cancel()
  s.advance(10)
  t.equal(ran, false)
})

t.test('the real scheduler uses the injected clock and Node timers', async (t) => {
  const s = realScheduler(() => 42)
  t.equal(s.now(), 42)
  // The scheduler's timers are unref'd (they never hold the process open): this one does, meanwhile.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(keepAlive))
  const fired = await new Promise<boolean>((resolve) => { s.after(1, () => resolve(true)) })
  t.equal(fired, true)
  let count = 0
  await new Promise<void>((resolve) => {
    const task = s.every(1, () => { if (++count === 3) { task.cancel(); resolve() } })
  })
  t.equal(count, 3)
})
