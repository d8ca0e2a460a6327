import t from 'tap'
import { DueIndex } from '../../plugins/retained/due-index.js'
import { ExpiryRules } from '../../plugins/retained/expiry-rules.js'
import { StatusTopic } from '../../plugins/liveness/status-topic.js'

const T0 = 1_763_700_000_000

t.test('the due index hands out exactly the keys due at the given time, earliest first', async (t) => {
  const index = new DueIndex()
  index.record('a', T0, T0 + 3000)
  index.record('b', T0, T0 + 1000)
  index.record('c', T0, null)
  index.record('d', T0, T0 + 2000)
  t.equal(index.size, 4, 'every recorded key is counted, due or not')
  t.equal(index.scheduled, 3, 'a key without a rule is never scheduled')
  t.same(index.takeDue(T0 + 999, 10), [], 'nothing is due before its time')
  t.same(index.takeDue(T0 + 2000, 10).map((d) => d.key), ['b', 'd'])
  t.equal(index.size, 2, 'taking is the claim: taken keys leave the index')
  t.same(index.takeDue(T0 + 2000, 10), [], 'a key is handed out once')
  t.same(index.takeDue(T0 + 1e12, 10).map((d) => d.key), ['a'], 'a key without due time is never taken')
  t.ok(index.has('c'))
})

t.test('a re-recorded key (republished) moves to its new due time; a cleared key is never due', async (t) => {
  const index = new DueIndex()
  index.record('x', T0, T0 + 1000)
  index.record('y', T0, T0 + 1000)
  index.record('x', T0 + 900, T0 + 1900) // republished before its due time
  index.clear('y') // an empty retained publish
  t.same(index.takeDue(T0 + 1500, 10), [], 'the republished message lives on')
  const due = index.takeDue(T0 + 1900, 10)
  t.same(due, [{ key: 'x', storedAt: T0 + 900, dueAt: T0 + 1900 }], 'due at its new time with its new store time')
  index.record('z', T0, T0 + 10)
  index.record('z', T0, null)
  t.same(index.takeDue(T0 + 100, 10), [], 'a key whose rule went away is no longer due')
  t.equal(index.size, 1)
})

t.test('the due index takes at most the batch size per call', async (t) => {
  const index = new DueIndex()
  for (let i = 0; i < 1000; i++) index.record(`k${i}`, T0, T0 + (i % 10))
  const first = index.takeDue(T0 + 9, 300)
  t.equal(first.length, 300)
  for (let i = 1; i < first.length; i++) t.ok(first[i - 1]!.dueAt <= first[i]!.dueAt, 'earliest first')
  t.equal(index.takeDue(T0 + 9, 1000).length, 700)
  t.equal(index.size, 0)
})

t.test('the due index stays a valid heap under random record/clear/take (against a plain model)', async (t) => {
  let seed = 42
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  const index = new DueIndex()
  const model = new Map<string, number | null>()
  let now = T0
  let mismatches = 0
  for (let step = 0; step < 20_000; step++) {
    const key = `k${rand(500)}`
    const op = rand(10)
    if (op < 6) {
      const due = rand(4) === 0 ? null : now + rand(5000)
      index.record(key, now, due)
      model.set(key, due)
    } else if (op < 8) {
      index.clear(key)
      model.delete(key)
    } else {
      now += rand(500)
      const taken = index.takeDue(now, 1e9).map((d) => d.key).sort()
      const expected = [...model].filter(([, due]) => due !== null && due <= now).map(([k]) => k).sort()
      for (const k of expected) model.delete(k)
      if (JSON.stringify(taken) !== JSON.stringify(expected)) mismatches++
    }
  }
  t.equal(mismatches, 0, 'every take returned exactly the due keys')
  t.equal(index.size, model.size)
})

t.test('expire rules: MQTT wildcards, first matching rule wins, $ topics need an explicit rule', async (t) => {
  const rules = new ExpiryRules([
    { topic: 'devices/+/status', maxAge: 2000 },
    { topic: 'devices/#', maxAge: 7000 },
    { topic: '#', maxAge: 9000 },
    { topic: '$liveness/+', maxAge: 500 }
  ])
  t.equal(rules.maxAgeOf('devices/d1/status'), 2000, 'the first rule wins over later matches')
  t.equal(rules.maxAgeOf('devices/d1/telemetry'), 7000)
  t.equal(rules.maxAgeOf('devices'), 7000, "'#' also matches the parent level")
  t.equal(rules.maxAgeOf('other/thing'), 9000)
  t.equal(rules.maxAgeOf('$liveness/d1'), 500, 'an explicit $ filter matches')
  t.equal(rules.maxAgeOf('$SYS/x'), null, "'#' does not match $ topics [MQTT-4.7.2-1]")
  t.equal(rules.dueAt('devices/d1/status', T0), T0 + 2000)
  const none = new ExpiryRules([{ topic: 'a/+/c', maxAge: 1 }])
  t.equal(none.dueAt('a/b/c/d', T0), null, "'+' matches exactly one level")
  t.equal(none.dueAt('a//c', T0), T0 + 1, "'+' matches an empty level [MQTT-4.7.1-3]")
  t.equal(new ExpiryRules([]).dueAt('anything', T0), null, 'no rules: nothing expires')
})

t.test('the status topic template maps clientIds to topics and back', async (t) => {
  const plain = new StatusTopic('$liveness/{clientId}')
  t.equal(plain.clientIdOf('$liveness/dev-1'), 'dev-1')
  t.equal(plain.clientIdOf('$liveness/a/b'), null, 'a clientId with / has no status topic (such clients are refused at CONNECT)')
  t.equal(plain.clientIdOf('devices/dev-1/status'), null)
  t.equal(plain.clientIdOf('$liveness/'), null)
  t.equal(plain.topicOf('dev-1'), '$liveness/dev-1')
  const nested = new StatusTopic('fleet/{username}/{clientId}/state')
  t.equal(nested.clientIdOf('fleet/acme/dev.1/state'), 'dev.1')
  t.equal(nested.topicOf('dev.1'), undefined, 'the username is not known from the clientId')
})
