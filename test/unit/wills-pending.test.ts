import t from 'tap'
import { decideDue, decideWill, type WillFacts } from '../../plugins/wills/decide.js'
import { DelayedEndIndex, type DelayedEnd } from '../../plugins/liveness/delayed-end.js'

const facts = (over: Partial<WillFacts> = {}): WillFacts => ({
  willEpoch: 3, currentEpoch: 3, reason: 'connection_lost', takenOver: false, connectedElsewhere: false,
  at: 10_000, now: 10_000, delay: 0, canDelay: true, ...over
})

t.test('a will of the current connection is published when there is no delay', async (t) => {
  t.same(decideWill(facts()), { action: 'publish' })
})

t.test('a will whose connection was replaced is never published', async (t) => {
  t.same(decideWill(facts({ reason: 'takeover' })), { action: 'suppress', cause: 'takeover' })
  t.same(decideWill(facts({ takenOver: true })), { action: 'suppress', cause: 'takeover' })
  t.same(decideWill(facts({ currentEpoch: 4 })), { action: 'suppress', cause: 'stale_epoch' })
  t.same(decideWill(facts({ connectedElsewhere: true, reason: 'node_lost' })), { action: 'suppress', cause: 'reconnected' })
  t.same(decideWill(facts({ willEpoch: undefined, currentEpoch: 9 })), { action: 'publish' }, 'unknown epoch: nothing to compare')
})

t.test('wills.delay holds a will until the time of death plus the delay', async (t) => {
  t.same(decideWill(facts({ delay: 2000 })), { action: 'delay', due: 12_000 })
  t.same(decideWill(facts({ delay: 2000, now: 11_000 })), { action: 'delay', due: 12_000 }, 'noticed late: delayed for the rest')
  t.same(decideWill(facts({ delay: 2000, now: 14_000, reason: 'node_lost' })), { action: 'publish' }, 'a lost node noticed after the delay: now')
  t.same(decideWill(facts({ delay: 2000, canDelay: false })), { action: 'publish' }, 'memory mode shutdown: now')
  t.same(decideWill(facts({ delay: 2000, currentEpoch: 4 })), { action: 'suppress', cause: 'stale_epoch' }, 'stale: never held')
})

t.test('a held will is suppressed at due time if the client came back', async (t) => {
  t.same(decideDue(3, 3), { action: 'publish' })
  t.same(decideDue(3, 4), { action: 'suppress', cause: 'reconnected' })
  t.same(decideDue(undefined, 4), { action: 'publish' })
})

// A delayed will, tagged through its topic.
type W = DelayedEnd
const w = (clientId: string, epoch: number | undefined, due: number, tag = clientId): W => ({
  clientId, epoch, due, status: null, will: { topic: tag, payload: Buffer.alloc(0), qos: 1, retain: false, reason: 'connection_lost', at: due }
})
const tagOf = (end: DelayedEnd | undefined): string | undefined => end?.will?.topic

t.test('pending wills fall due by an injected clock, earliest first', async (t) => {
  const p = new DelayedEndIndex()
  let now = 1000
  p.put(w('b', 1, now + 2000))
  p.put(w('a', 1, now + 1000))
  t.equal(p.nextDue(), 2000)
  t.same(p.takeDue(now), [], 'nothing due yet')
  now += 999
  t.same(p.takeDue(now), [])
  now += 1
  t.same(p.takeDue(now).map((x) => x.clientId), ['a'])
  t.equal(p.nextDue(), 3000)
  now += 5000
  t.same(p.takeDue(now).map((x) => x.clientId), ['b'])
  t.equal(p.nextDue(), undefined)
  t.equal(p.size, 0)
})

t.test('a reconnect within the delay cancels the pending will; after it nothing is left to cancel', async (t) => {
  const p = new DelayedEndIndex()
  p.put(w('dev', 3, 3000))
  t.equal(tagOf(p.cancel('dev', 4)), 'dev', 'reconnect with a newer epoch cancels')
  t.same(p.takeDue(10_000), [], 'nothing published')
  p.put(w('dev', 4, 3000))
  t.same(p.takeDue(3000).map((x) => x.epoch), [4], 'stays away: exactly one')
  t.equal(p.cancel('dev', 5), undefined, 'already published')
})

t.test('a pending will of a newer connection is neither cancelled nor replaced by an older one', async (t) => {
  const p = new DelayedEndIndex()
  p.put(w('dev', 5, 3000, 'new'))
  t.equal(p.cancel('dev', 5), undefined, 'same epoch: not a reconnect after it')
  t.equal(p.put(w('dev', 4, 2000, 'old')), false)
  t.same(p.takeAll().map(tagOf), ['new'])
  p.put(w('dev', undefined, 1))
  t.ok(p.cancel('dev', undefined), 'unknown epochs cancel')
})
