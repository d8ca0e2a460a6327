import t from 'tap'
import { analyzeFleet, tsToMs, type DeviceTruth, type Role } from '../../bench/scenarios/fleet-analysis.js'
import { assignRoles } from '../../bench/scenarios/fleet.js'

const bounds = { freezeMs: 6000, vanishMs: 7000, closeMs: 1000 }

function dev (id: string, role: Role, extra: Partial<DeviceTruth> = {}): DeviceTruth {
  return { id, role, injectedAt: null, truthAt: null, ends: new Map(), lastConnectAt: 0, liveness: [], status: [], ...extra }
}

t.test('roles: each fault gets its fraction, spread over the fleet', async (t) => {
  const roles = assignRoles(100, { freeze: 0.05, drop: 0.05, vanish: 0.05, graceful: 0.05, storm: 0.05 })
  for (const f of ['freeze', 'drop', 'vanish', 'graceful', 'storm']) t.equal(roles.filter((r) => r === f).length, 5, f)
  t.equal(roles.filter((r) => r === 'healthy').length, 75)
  t.ok(roles.lastIndexOf('storm') > 80 && roles.indexOf('freeze') === 0, 'faults are spread over the whole id range')
})

t.test('detection latency is measured from the truth time; a missing detection is missed', async (t) => {
  const f = analyzeFleet([
    dev('a', 'freeze', { injectedAt: 10_000, truthAt: 9_000, liveness: [{ t: 14_500, state: 'silent', reason: null, epoch: 1 }] }),
    dev('b', 'freeze', { injectedAt: 10_000, truthAt: 9_500 }),
    dev('c', 'drop', { injectedAt: 10_000, truthAt: 10_000, liveness: [{ t: 10_005, state: 'offline', reason: 'keepalive_timeout', epoch: 1 }] })
  ], true, bounds)
  t.same(f.detection.freeze, [5500])
  t.equal(f.perFault.freeze!.missed, 1)
  t.equal(f.perFault.drop!.p50, 5)
  t.equal(f.perFault.drop!.wrongReason, 1, 'offline with another reason than connection_lost is counted')
})

t.test('a healthy device reported silent is a false positive; a faulty one after its fault is not', async (t) => {
  const f = analyzeFleet([
    dev('h', 'healthy', { liveness: [{ t: 5, state: 'online', reason: null, epoch: 1 }, { t: 8000, state: 'silent', reason: null, epoch: 1 }] }),
    dev('d', 'drop', { injectedAt: 10_000, truthAt: 10_000, liveness: [{ t: 10_010, state: 'offline', reason: 'connection_lost', epoch: 1 }] })
  ], true, bounds)
  t.equal(f.falsePositives, 1)
  t.same(f.falsePositiveDevices, ['h'])
})

t.test('a will arriving after a newer connection\'s birth is stale; one before it is not', async (t) => {
  const ends = new Map([[1, { at: 1000, takeover: false }], [2, { at: 2000, takeover: true }]])
  const stale = analyzeFleet([dev('s', 'storm', {
    ends, lastConnectAt: 2100,
    status: [
      { t: 10, state: 'online', will: false, boot: 1, ts: 1, reason: null },
      { t: 1001, state: 'offline', will: true, boot: null, ts: 1000, reason: 'connection_lost' }, // boot 1 ended at 1000: legit
      { t: 1100, state: 'online', will: false, boot: 2, ts: 1, reason: null },
      { t: 2100, state: 'online', will: false, boot: 3, ts: 1, reason: null },
      { t: 2200, state: 'offline', will: true, boot: null, ts: 0, reason: null } // boot 3 still open: stale
    ]
  })], true, bounds)
  t.equal(stale.staleWills, 1)
  t.equal(stale.takeoverWills, 0)
})

t.test('will ts is read as seconds below 1e11 and compared with the time of death', async (t) => {
  t.equal(tsToMs(1_763_700_000), 1_763_700_000_000)
  t.equal(tsToMs(1_763_700_000_123), 1_763_700_000_123)
  const f = analyzeFleet([dev('v', 'vanish', {
    injectedAt: 1_763_700_010_000, truthAt: 1_763_700_009_000,
    status: [{ t: 1_763_700_015_000, state: 'offline', will: true, boot: null, ts: 1_763_700_009_004, reason: 'keepalive_timeout' }]
  }), dev('u', 'drop', { injectedAt: 5, truthAt: 5, status: [{ t: 6, state: 'offline', will: true, boot: null, ts: 0, reason: null }] })], false, bounds)
  t.same(f.willTsErrorsMs, [4])
  t.equal(f.unstampedWills, 1)
  t.equal(f.perFault.freeze!.devices, 0)
  t.equal(f.channel, 'wills')
})
