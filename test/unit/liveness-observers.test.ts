import t from 'tap'
import { Conn, LivenessCore, type Decision, type Transition } from '../../plugins/liveness/core.js'
import { FleetView } from '../../plugins/liveness/fleet-view.js'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { parseStatus, statusOf } from '../../plugins/liveness/status.js'

const T0 = 1_763_700_000_000
const RES = 250

const sweep = (core: LivenessCore, now: number): Array<[string, string, string]> => {
  const out: Decision[] = []
  core.sweep(now, out)
  return out.filter((d): d is Transition => 'conn' in d).map((d) => [d.conn.clientId, d.from, d.to])
}

t.test('an observer is never filed for silence: it stays online however long it publishes nothing', async (t) => {
  const core = new LivenessCore({ kickSilentAfter: 1000, resolutionMs: RES }, T0)
  const watcher = new Conn('watch-1', 1, T0, 10_000, false)
  watcher.observer = true
  const device = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(watcher, T0)
  core.open(device, T0)
  t.equal(core.scheduled, 1, 'only the device has a deadline')
  t.same(sweep(core, T0 + 3_600_000), [['dev-1', 'online', 'silent']], 'the device goes silent, the observer never')
  t.same(sweep(core, T0 + 7_200_000), [], 'and is never kicked')
  t.equal(watcher.state, 'online')
  t.equal(statusOf(watcher, 'n').kind, 'observer')
  t.same(core.end(watcher, 'graceful', T0 + 7_200_000)?.to, 'offline', 'it still ends')
  t.equal(core.size, 1)
})

t.test('the first heartbeat makes an observer a device: it appears (none -> online) and can go silent from then', async (t) => {
  const core = new LivenessCore({ kickSilentAfter: null, resolutionMs: RES }, T0)
  const conn = new Conn('dash-1', 3, T0, 10_000, false)
  conn.observer = true
  core.open(conn, T0)
  const promoted = core.heartbeat(conn, T0 + 60_000)
  t.same(promoted && [promoted.from, promoted.to], ['none', 'online'])
  t.equal(conn.observer, false)
  t.equal(conn.since, T0, 'online since its CONNECT: the state did not change')
  t.equal(core.heartbeat(conn, T0 + 61_000), null, 'a second heartbeat is nothing new')
  t.same(sweep(core, T0 + 61_000 + 10_000 + RES), [['dash-1', 'online', 'silent']])
  t.equal(statusOf(conn, 'n').kind, 'device')
})

const status = (over: Partial<ClientStatus>): ClientStatus => ({
  clientId: 'c', state: 'online', since: 1000, connectedAt: 1000, lastHeartbeat: 1000, lastPacket: 1000,
  reason: null, epoch: 1, node: 'a', kind: 'device', ...over
})

t.test('fleet view: observers are counted apart, listed only when asked for', async (t) => {
  const view = new FleetView()
  view.accept(status({ clientId: 'dev' }), 't')
  view.accept(status({ clientId: 'obs', kind: 'observer' }), 't')
  t.same(view.counts(), { online: 1, silent: 0, offline: 0 }, 'vigil_devices counts devices')
  t.equal(view.observers, 1)
  t.same(view.list().map((s) => s.clientId), ['dev'], 'the default listing is devices')
  t.same(view.list(undefined, 'observer').map((s) => s.clientId), ['obs'])
  t.same(view.list('online', 'all').map((s) => s.clientId), ['dev', 'obs'])
  view.accept(status({ clientId: 'obs', kind: 'device', lastHeartbeat: 2000, lastPacket: 2000 }), 't')
  t.same([view.counts().online, view.observers], [2, 0], 'promoted: now a device')
  view.forget('obs')
  view.forget('dev')
  t.same([view.counts().online, view.observers], [0, 0])
})

t.test('fleet view: a refresh (same epoch, state and since, a field changed) is accepted; the same status again is not', async (t) => {
  const view = new FleetView()
  view.accept(status({}), 't')
  t.equal(view.accept(status({}), 't'), null, 'nothing changed')
  t.not(view.accept(status({ fw: '1.0.0', restarts: 0 }), 't'), null, 'fw learnt')
  t.equal(view.get('c')?.fw, '1.0.0')
  t.equal(view.accept(status({ fw: '1.0.0', restarts: 0 }), 't'), null)
  t.equal(view.accept(status({ since: 900, fw: '2.0.0' }), 't'), null, 'an older since is still refused')
  view.accept(status({ state: 'offline', reason: 'graceful', since: 5000, fw: '1.0.0' }), 't')
  t.equal(view.accept(status({ state: 'offline', reason: 'graceful', since: 5000, fw: '9.9.9' }), 't'), null, 'offline stays final within its epoch')
})

t.test('a status message read back keeps kind and the well-typed insight fields', async (t) => {
  const parsed = parseStatus(JSON.stringify({ ...status({}), kind: 'observer', fw: '1.2.3', restarts: 2, lastRestart: null,
    clockSkewMs: -1500, flapping: true, address: '10.0.0.7' }))
  t.match(parsed, { kind: 'observer', fw: '1.2.3', restarts: 2, lastRestart: null, clockSkewMs: -1500, flapping: true, address: '10.0.0.7' })
  const odd = parseStatus(JSON.stringify({ ...status({}), kind: 'robot', fw: 7, restarts: 'two', flapping: 'yes' }))
  t.equal(odd?.kind, 'device', 'an unknown kind is a device (older statuses have none)')
  t.equal(odd?.fw, undefined, 'a mistyped field is dropped')
  t.equal(odd?.restarts, undefined)
  t.equal(odd?.flapping, undefined)
})
