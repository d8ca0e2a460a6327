/**
 * The pure part of shared subscriptions (broker/shared-groups.ts): what a
 * `$share/` filter says [MQTT-4.8.2], and a group's members taken in turn.
 */
import t from 'tap'
import { parseShare, RoundRobin } from '../../broker/shared-groups.js'

t.test('a $share/ filter gives its ShareName and real filter', async (t) => {
  t.same(parseShare('$share/g/a/b'), { share: 'g', filter: 'a/b' })
  t.same(parseShare('$share/g/#'), { share: 'g', filter: '#' })
  t.same(parseShare('$share/g//x'), { share: 'g', filter: '/x' }, 'the filter may start with an empty level')
  t.equal(parseShare('a/b'), null, 'any other filter: not a shared one')
  t.equal(parseShare('$SYS/#'), null)
  t.equal(parseShare('$sharex/g/a'), null, 'only the exact prefix')
})

t.test('an invalid ShareName says why [MQTT-4.8.2-1] [MQTT-4.8.2-2]', async (t) => {
  for (const topic of ['$share//a', '$share/', '$share/g', '$share/g/', '$share/g+/a', '$share/#/a', '$share/+/a', '$share/a#b/c']) {
    const parsed = parseShare(topic)
    t.ok(parsed !== null && 'problem' in parsed && parsed.problem.includes(topic), `${topic}: ${JSON.stringify(parsed)}`)
  }
})

t.test('members are taken in turn, each once per round', async (t) => {
  const rr = new RoundRobin<string>()
  t.equal(rr.next(), undefined, 'nobody: undefined')
  rr.set('a', 'A')
  rr.set('b', 'B')
  rr.set('c', 'C')
  t.same([rr.next(), rr.next(), rr.next(), rr.next()], ['A', 'B', 'C', 'A'])
})

t.test('removing a member keeps the turn of the one after it', async (t) => {
  const rr = new RoundRobin<string>()
  for (const id of ['a', 'b', 'c', 'd']) rr.set(id, id)
  t.same([rr.next(), rr.next()], ['a', 'b'])
  t.ok(rr.delete('a'), 'a removed (before the turn)')
  t.equal(rr.next(), 'c', 'c still next')
  t.ok(rr.delete('d'), 'd removed (its turn was next)')
  t.equal(rr.next(), 'b', 'wraps round to b')
  t.notOk(rr.delete('zz'), 'an unknown id: false')
  t.equal(rr.size, 2)
})

t.test('setting an existing id replaces the member in its place', async (t) => {
  const rr = new RoundRobin<string>()
  rr.set('a', 'A1')
  rr.set('b', 'B')
  rr.set('a', 'A2')
  t.equal(rr.size, 2)
  t.same([rr.next(), rr.next()], ['A2', 'B'])
  t.equal(rr.get('a'), 'A2')
  t.ok(rr.has('b'))
  t.same(rr.ids(), ['a', 'b'])
})
