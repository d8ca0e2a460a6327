/**
 * A decommissioned client's retained topics are held for exactly the time
 * asked, on injected time (the hold's timers come from the scheduler).
 */
import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import { RetainedHold } from '../../plugins/retained/hold.js'
import { StatusTopic } from '../../plugins/retained/status-topic.js'

t.test('a hold covers devices/{clientId}/... and the status topic until its time is up', async (t) => {
  const scheduler = new ManualScheduler(0)
  const hold = new RetainedHold(new StatusTopic('$liveness/{clientId}'), scheduler)
  t.notOk(hold.active, 'nothing held at first')
  hold.add('d1', 5000)
  t.ok(hold.active)
  t.same(hold.ownerOf('devices/d1'), { clientId: 'd1', status: false })
  t.same(hold.ownerOf('devices/d1/state'), { clientId: 'd1', status: false })
  t.same(hold.ownerOf('$liveness/d1'), { clientId: 'd1', status: true })
  t.equal(hold.ownerOf('devices/d10/state'), undefined, 'another client sharing the prefix is not held')
  scheduler.advance(4999)
  t.ok(hold.active, 'still held 1 ms before its end')
  scheduler.advance(1)
  t.notOk(hold.active, 'released at its end')
  t.equal(hold.ownerOf('devices/d1'), undefined)
})

t.test('holding again restarts the hold; close releases everything', async (t) => {
  const scheduler = new ManualScheduler(0)
  const hold = new RetainedHold(new StatusTopic('$liveness/{clientId}'), scheduler)
  hold.add('d2', 1000)
  scheduler.advance(800)
  hold.add('d2', 1000)
  scheduler.advance(800)
  t.ok(hold.active, 'the second hold runs from when it was asked')
  t.equal(scheduler.pending, 1, 'the first hold\'s timer was cancelled')
  scheduler.advance(200)
  t.notOk(hold.active)
  hold.add('d3', 1000)
  hold.close()
  t.notOk(hold.active)
  t.equal(scheduler.pending, 0, 'no timer left after close')
})
