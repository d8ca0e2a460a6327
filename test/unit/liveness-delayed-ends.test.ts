import t from 'tap'
import { ManualScheduler } from '../../broker/scheduler.js'
import { memoryDelayStore } from '../../plugins/liveness/delay-store-memory.js'
import { DelayedEndIndex, type DelayedWill } from '../../plugins/liveness/delayed-end.js'
import { DelayedEnds } from '../../plugins/liveness/delayed-ends.js'
import type { ClientStatus, DelayedEnd } from '../../plugins/liveness/service.js'

const status = (over: Partial<ClientStatus>): ClientStatus => ({
  clientId: 'dev-1', state: 'offline', since: 1000, connectedAt: 500, lastHeartbeat: 900, lastPacket: 950,
  reason: 'connection_lost', epoch: 3, node: 'a', kind: 'device', ...over
})
const will = (tag: string): DelayedWill => ({ topic: `devices/${tag}/status`, payload: Buffer.from(tag), qos: 1, retain: true, reason: 'connection_lost', at: 1000 })

t.test('a connection\'s offline status and its will join one delayed end; an older connection never replaces it', async (t) => {
  const index = new DelayedEndIndex()
  t.ok(index.put({ clientId: 'dev-1', epoch: 3, due: 3000, status: { status: status({}), topic: '$liveness/dev-1' }, will: null }))
  t.ok(index.put({ clientId: 'dev-1', epoch: 3, due: 3000, status: null, will: will('w3') }))
  t.equal(index.size, 1, 'one entry per client')
  t.notOk(index.put({ clientId: 'dev-1', epoch: 2, due: 2000, status: null, will: will('w2') }), 'an older connection\'s will is refused')
  const [end] = index.takeDue(3000)
  t.equal(end?.status?.status.epoch, 3, 'the status is there')
  t.equal(end?.will?.topic, 'devices/w3/status', 'the will beside it')
  t.equal(index.size, 0)
  index.put({ clientId: 'dev-1', epoch: 3, due: 3000, status: null, will: will('old') })
  index.put({ clientId: 'dev-1', epoch: 4, due: 5000, status: null, will: will('new') })
  t.same(index.takeAll().map((e) => e.will?.topic), ['devices/new/status'], 'a newer connection replaces an older one\'s entry')
})

t.test('delayed ends fall due by the scheduler: status through liveness, will through its handler; a reconnect cancels both', async (t) => {
  const scheduler = new ManualScheduler(1000)
  const released: ClientStatus[] = []
  const due: DelayedEnd[] = []
  const cancelled: Array<[string, string]> = []
  const delayed = new DelayedEnds({
    store: memoryDelayStore(),
    scheduler,
    delay: 2000,
    shared: false,
    releaseStatus: ({ status }) => released.push(status),
    reportError: (err) => { throw err }
  })
  delayed.handleWills({
    due: async (end) => { due.push(end) },
    cancelled: (end, why) => { cancelled.push([end.clientId, why]) }
  })
  const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

  delayed.delayStatus('gone', 3, 3000, { status: status({ clientId: 'gone' }), topic: '$liveness/gone' })
  await delayed.delayWill('gone', 3, 3000, will('gone'))
  delayed.delayStatus('back', 7, 3000, { status: status({ clientId: 'back', epoch: 7 }), topic: '$liveness/back' })
  await delayed.delayWill('back', 7, 3000, will('back'))
  await settle()

  scheduler.advance(1000)
  await settle()
  delayed.cancel('back', 8)
  await settle()
  t.same(cancelled, [['back', 'reconnected']], 'the reconnect cancelled the will (and the status with it)')
  t.same(released, [], 'nothing before the delay ran out')

  scheduler.advance(1000)
  await settle()
  t.same(released.map((s) => s.clientId), ['gone'], 'the status of the client that stayed away, once')
  t.same(due.map((e) => e.will?.topic), ['devices/gone/status'], 'and its will')
  t.equal(released[0]?.since, 1000, 'stamped with the time of death, not the end of the delay')

  delayed.delayStatus('late', 1, 10_000, { status: status({ clientId: 'late', epoch: 1 }), topic: '$liveness/late' })
  await settle()
  delayed.cancel('late', 1)
  await settle()
  await delayed.releaseAll()
  t.same(released.map((s) => s.clientId), ['gone', 'late'], 'the same epoch does not cancel; shutdown releases what is left')
  delayed.close()
})
