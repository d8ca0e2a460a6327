/**
 * Node loss on injected time: trackCluster hears heartbeats on a real Aedes
 * emitter and checks for silence on a ManualScheduler, so "lost 3 beats after
 * the last one, within one check" is asserted to the millisecond, not slept.
 */
import { Aedes } from 'aedes'
import t from 'tap'
import { checkEvery, PROBE_AFTER_BEATS, trackCluster } from '../../broker/cluster.js'
import { ManualScheduler } from '../../broker/scheduler.js'

const HEARTBEAT = 4000

async function harness (gone?: (id: string) => Promise<boolean>) {
  const scheduler = new ManualScheduler(100_000)
  const broker = new Aedes({ id: 'me' })
  await broker.listen()
  const cluster = trackCluster(broker, 'me', HEARTBEAT, scheduler, gone)
  const lost: Array<{ id: string, lastSeen: number, at: number }> = []
  cluster.onNodeLost((id, lastSeen) => lost.push({ id, lastSeen, at: scheduler.now() }))
  /** A heartbeat of `id` through the broker's emitter, as Aedes routes `$SYS/<id>/heartbeat`. */
  const beat = (id: string, kind: 'heartbeat' | 'birth' = 'heartbeat'): Promise<void> => new Promise((resolve) =>
    broker.publish({ cmd: 'publish', topic: `$SYS/${id}/${kind}`, payload: Buffer.from(id), qos: 0, retain: false, dup: false }, () => resolve()))
  return { scheduler, broker, cluster, lost, beat }
}

t.test('a node silent for 3 heartbeats is lost within one check, once, with the time of its last beat', async (t) => {
  const h = await harness()
  t.teardown(() => { h.cluster.close(); h.broker.close() })
  await h.beat('other', 'birth')
  t.equal(h.cluster.lastSeen('other'), 100_000, 'a birth counts as a beat')
  h.scheduler.advance(1000)
  await h.beat('other')
  const last = h.scheduler.now()
  t.equal(h.cluster.lastSeen('other'), last)

  h.scheduler.advance(3 * HEARTBEAT)
  t.same(h.lost, [], 'not lost at exactly 3 beats of silence')
  h.scheduler.advance(checkEvery(HEARTBEAT))
  t.equal(h.lost.length, 1, 'lost at the first check past 3 beats')
  t.match(h.lost[0], { id: 'other', lastSeen: last })
  t.ok(h.lost[0]!.at - last <= 3 * HEARTBEAT + checkEvery(HEARTBEAT), `declared ${h.lost[0]!.at - last} ms after its last beat`)

  h.scheduler.advance(10 * HEARTBEAT)
  t.equal(h.lost.length, 1, 'reported once')
  t.equal(h.cluster.lastSeen('me'), h.scheduler.now(), 'this node is always seen now')
})

t.test('a lost node that beats again can be lost again; close() stops the checks', async (t) => {
  const h = await harness()
  t.teardown(() => { h.broker.close() })
  await h.beat('n2')
  h.scheduler.advance(3 * HEARTBEAT + checkEvery(HEARTBEAT))
  t.equal(h.lost.length, 1)
  await h.beat('n2')
  h.scheduler.advance(3 * HEARTBEAT + checkEvery(HEARTBEAT))
  t.equal(h.lost.length, 2, 'back, then silent again: lost again')
  await h.beat('n2')
  h.cluster.close()
  t.equal(h.scheduler.pending, 0, 'no check left armed')
  h.scheduler.advance(10 * HEARTBEAT)
  t.equal(h.lost.length, 2, 'nothing after close')
})

t.test('a node late by a beat and a half whose subscription is gone is lost then; one that is only slow waits for 3 beats', async (t) => {
  const asked: string[] = []
  const h = await harness(async (id) => { asked.push(id); return id === 'dead' })
  t.teardown(() => { h.cluster.close(); h.broker.close() })
  await h.beat('dead')
  await h.beat('slow')
  const last = h.scheduler.now()
  h.scheduler.advance(PROBE_AFTER_BEATS * HEARTBEAT)
  t.same(asked, [], 'not asked at exactly a beat and a half')
  h.scheduler.advance(checkEvery(HEARTBEAT))
  await new Promise((resolve) => setImmediate(resolve))
  t.same([...asked].sort(), ['dead', 'slow'], 'both asked at the first check past it')
  t.same(h.lost.map((l) => l.id), ['dead'], 'the gone one is lost at once')
  t.match(h.lost[0], { id: 'dead', lastSeen: last })
  h.scheduler.advance(500)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(asked.filter((id) => id === 'slow').length, 1, 'asked at most once a second')
  h.scheduler.advance(3 * HEARTBEAT - PROBE_AFTER_BEATS * HEARTBEAT)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(h.lost.map((l) => l.id), ['dead', 'slow'], 'the slow one only after 3 beats')
})
