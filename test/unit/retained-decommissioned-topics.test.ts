/**
 * A decommissioned client's retained topics are kept clear for exactly the
 * time asked, on injected time (the release timers come from the scheduler).
 */
import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import { DecommissionedTopics } from '../../plugins/retained/decommissioned-topics.js'
import { StatusTopic } from '../../plugins/liveness/status-topic.js'

t.test('a decommissioned client\'s devices/{clientId}/... and status topic are kept clear until its time is up', async (t) => {
  const scheduler = new ManualScheduler(0)
  const topics = new DecommissionedTopics(new StatusTopic('$liveness/{clientId}'), scheduler)
  t.notOk(topics.active, 'nothing listed at first')
  topics.add('d1', 5000)
  t.ok(topics.active)
  t.same(topics.ownerOf('devices/d1'), { clientId: 'd1', status: false })
  t.same(topics.ownerOf('devices/d1/state'), { clientId: 'd1', status: false })
  t.same(topics.ownerOf('$liveness/d1'), { clientId: 'd1', status: true })
  t.equal(topics.ownerOf('devices/d10/state'), undefined, 'another client sharing the prefix is not covered')
  scheduler.advance(4999)
  t.ok(topics.active, 'still covered 1 ms before its end')
  scheduler.advance(1)
  t.notOk(topics.active, 'released at its end')
  t.equal(topics.ownerOf('devices/d1'), undefined)
})

t.test('listing a client again restarts its time; close releases everything', async (t) => {
  const scheduler = new ManualScheduler(0)
  const topics = new DecommissionedTopics(new StatusTopic('$liveness/{clientId}'), scheduler)
  topics.add('d2', 1000)
  scheduler.advance(800)
  topics.add('d2', 1000)
  scheduler.advance(800)
  t.ok(topics.active, 'the second listing runs from when it was asked')
  t.equal(scheduler.pending, 1, 'the first listing\'s timer was cancelled')
  scheduler.advance(200)
  t.notOk(topics.active)
  topics.add('d3', 1000)
  topics.close()
  t.notOk(topics.active)
  t.equal(scheduler.pending, 0, 'no timer left after close')
})
