/**
 * The fleet page's model (plugins/page/static/fleet.js), pure, in Node: the
 * view stays filtered and sorted under live updates, stale statuses never
 * replace newer ones, a decommissioned device stays out.
 */
import t from 'tap'

interface S { clientId: string, state: string, since: number, epoch: number, reason?: string | null, node?: string }
interface FleetModel {
  view: S[]
  counts: Record<string, number>
  size: number
  load(s: S[]): void
  apply(s: S[]): number
  remove(id: string): boolean
  setFilter(state: string | null, search: string): void
  setSort(key: string, dir: 1 | -1): void
}
const modulePath = new URL('../../plugins/page/static/fleet.js', import.meta.url).href
const { Fleet } = await import(modulePath) as { Fleet: new () => FleetModel }

const st = (clientId: string, state: string, since: number, epoch = 1, extra: Partial<S> = {}): S => ({ clientId, state, since, epoch, ...extra })
const ids = (f: FleetModel): string[] => f.view.map((s) => s.clientId)

function sortedCopy (f: FleetModel, key: string, dir: 1 | -1): string[] {
  const g = new Fleet()
  g.load(f.view)
  g.setSort(key, dir)
  return ids(g)
}

t.test('single updates keep the view sorted exactly as a full sort would', async (t) => {
  const f = new Fleet()
  f.load(Array.from({ length: 200 }, (_, i) => st(`d-${i}`, ['online', 'silent', 'offline'][i % 3]!, 1000 + (i * 37) % 200)))
  f.setSort('since', -1)
  let epoch = 2
  for (let k = 0; k < 300; k++) {
    const i = (k * 53) % 200
    t.equal(f.apply([st(`d-${i}`, ['online', 'silent', 'offline'][k % 3]!, 5000 + k, epoch++)]), 1)
  }
  t.same(ids(f), sortedCopy(f, 'since', -1), 'same order as a rebuild')
  t.equal(f.view.length, 200)
  t.same(f.counts.online + f.counts.silent + f.counts.offline, 200, 'counts add up')
})

t.test('a status of an older epoch, or older within its epoch, is ignored', async (t) => {
  const f = new Fleet()
  f.load([st('a', 'offline', 2000, 5, { reason: 'graceful' })])
  t.equal(f.apply([st('a', 'online', 3000, 4)]), 0, 'older epoch')
  t.equal(f.apply([st('a', 'online', 1000, 5)]), 0, 'older since, same epoch')
  t.equal(f.view[0]!.state, 'offline')
  t.equal(f.apply([st('a', 'online', 1500, 6)]), 1, 'a newer epoch wins whatever its time')
})

t.test('a filtered view gains and loses devices as their state changes', async (t) => {
  const f = new Fleet()
  f.load([st('a', 'online', 1), st('b', 'silent', 1), st('c', 'online', 1)])
  f.setFilter('online', '')
  t.same(ids(f), ['a', 'c'])
  f.apply([st('a', 'silent', 2, 2)])
  t.same(ids(f), ['c'])
  f.apply([st('b', 'online', 3, 2)])
  t.same(ids(f), ['b', 'c'])
  f.setFilter(null, ' B ')
  t.same(ids(f), ['b'], 'search trims and ignores case')
})

t.test('missing values sort last in both directions', async (t) => {
  const f = new Fleet()
  f.load([st('a', 'offline', 1, 1, { reason: 'kicked' }), st('b', 'online', 1), st('c', 'offline', 1, 1, { reason: 'graceful' })])
  f.setSort('reason', 1)
  t.same(ids(f), ['c', 'a', 'b'])
  f.setSort('reason', -1)
  t.same(ids(f), ['a', 'c', 'b'])
})

t.test('a decommissioned device stays out: its own kick (same epoch) does not bring it back, a new connection does', async (t) => {
  const f = new Fleet()
  f.load([st('a', 'online', 1, 3), st('b', 'online', 1)])
  t.ok(f.remove('a'))
  t.equal(f.apply([st('a', 'offline', 2, 3, { reason: 'kicked' })]), 0)
  t.same(ids(f), ['b'])
  t.equal(f.apply([st('a', 'online', 3, 4)]), 1)
  t.same(ids(f), ['a', 'b'])
})

t.test('a big batch is applied with one rebuild and the same result', async (t) => {
  const f = new Fleet()
  f.load([])
  f.apply(Array.from({ length: 500 }, (_, i) => st(`x-${String(i).padStart(3, '0')}`, 'online', i)))
  t.equal(f.size, 500)
  t.equal(f.view[0]!.clientId, 'x-000')
  t.equal(f.view[499]!.clientId, 'x-499')
})

t.test('observers are not devices: never listed, and one that was a device leaves the table', async (t) => {
  const f = new Fleet()
  f.load([st('a', 'online', 1), { ...st('logger', 'online', 1), kind: 'observer' } as S])
  t.same(ids(f), ['a'], 'an observer in the list is left out')
  t.equal(f.apply([{ ...st('mosq-sub', 'online', 2), kind: 'observer' } as S]), 0, 'a live observer is not added')
  t.equal(f.apply([{ ...st('a', 'online', 3, 2), kind: 'observer' } as S]), 1, 'a device back as an observer')
  t.same(ids(f), [])
  t.equal(f.counts.online, 0)
  t.equal(f.apply([{ ...st('a', 'online', 4, 2), kind: 'device' } as S]), 1, 'its first heartbeat makes it a device again')
  t.same(ids(f), ['a'])
})
