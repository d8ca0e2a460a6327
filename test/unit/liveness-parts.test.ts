import t from 'tap'
import { endReason, isProtocolError } from '../../plugins/liveness/end-reason.js'
import { FleetView } from '../../plugins/liveness/fleet-view.js'
import { DelayedEndIndex } from '../../plugins/liveness/delayed-end.js'
import { topicMatches } from '../../broker/topic-match.js'
import { announcedInterval, LivenessRules } from '../../plugins/liveness/rules.js'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { parseStatus } from '../../plugins/liveness/status.js'
import { StatusTopic } from '../../plugins/liveness/status-topic.js'
import { TimingWheel, type WheelEntry } from '../../plugins/liveness/timing-wheel.js'
import { VigilError } from '../../broker/errors.js'

class Entry implements WheelEntry {
  slot = -1
  due = 0
  prev: WheelEntry | null = null
  next: WheelEntry | null = null
  constructor (readonly id: number) {}
}

t.test('timing wheel: every entry fires once, not before its deadline, at most one slot late', async (t) => {
  const wheel = new TimingWheel<Entry>(100, 0)
  const deadlines = new Map<Entry, number>()
  let seed = 42
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  for (let i = 0; i < 5000; i++) {
    const entry = new Entry(i)
    const due = Math.floor(random() * 60_000)
    deadlines.set(entry, due)
    wheel.insert(entry, due)
  }
  const removed = [...deadlines.keys()].filter((e) => e.id % 10 === 0)
  for (const entry of removed) wheel.remove(entry)
  t.equal(wheel.size, 4500)
  const fired = new Map<Entry, number>()
  let twice = 0
  for (let now = 0; now <= 61_000; now += 37) {
    wheel.sweep(now, (entry) => {
      if (fired.has(entry)) twice++
      fired.set(entry, now)
    })
  }
  t.equal(twice, 0, 'no entry fires twice')
  t.equal(fired.size, 4500)
  let early = 0
  let late = 0
  for (const [entry, at] of fired) {
    if (at < deadlines.get(entry)!) early++
    if (at > deadlines.get(entry)! + 100 + 37) late++
  }
  t.equal(early, 0, 'none early')
  t.equal(late, 0, 'none later than one slot plus one sweep period')
  t.ok(removed.every((e) => !fired.has(e)), 'removed entries never fire')
  t.equal(wheel.size, 0)
})

t.test('timing wheel: re-filing during a sweep and a long clock jump', async (t) => {
  const wheel = new TimingWheel<Entry>(250, 1000)
  const a = new Entry(1)
  wheel.insert(a, 2000)
  let visits = 0
  wheel.sweep(2000, (entry) => { visits++; wheel.insert(entry, 3000) })
  t.equal(visits, 1)
  t.equal(wheel.size, 1, 're-filed for later')
  t.equal(wheel.sweep(2999, () => { visits++ }), 0)
  wheel.insert(new Entry(2), 86_400_000 * 7)
  t.equal(wheel.sweep(86_400_000, () => { visits++ }), 1, 'a day later: one slot walk over the filled slots only')
  t.equal(wheel.size, 1)
  wheel.insert(new Entry(3), 0)
  t.equal(wheel.sweep(86_400_000 + 250, () => { visits++ }), 1, 'an entry filed for the past fires within one slot')
})

t.test('topic filters: + and # by whole levels, $ topics hidden from leading wildcards [MQTT-4.7.2-1]', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['#', 'a/b', true], ['#', '$liveness/x', false], ['+/x', '$liveness/x', false],
    ['$liveness/+', '$liveness/x', true], ['$liveness/#', '$liveness', true], ['a/#', 'a', true],
    ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['a/+/c', 'a//c', true], ['a/b', 'a/bc', false],
    ['devices/+/heartbeat', 'devices/d1/heartbeat', true], ['devices/+/heartbeat', 'devices/d1/telemetry', false],
    ['a', 'a/b', false], ['a/b/c', 'a/b', false], ['+', '', true], ['+/+', 'a', false]
  ]
  for (const [filter, topic, expected] of cases) t.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`)
})

t.test('rules: the first matching rule wins, on clientId glob and/or username; else the defaults', async (t) => {
  const rules = new LivenessRules({ silentAfter: 90_000, heartbeatTopics: ['#'] }, [
    { clients: 'dash-*', track: false },
    { clients: 'sensor-?', silentAfter: 30_000, heartbeatTopics: ['devices/+/heartbeat'], track: true },
    { clients: 'sensor-*', silentAfter: 60_000, track: true },
    { username: 'gateway', silentAfter: 5_000, track: true },
    { clients: 'x.*', username: 'both', silentAfter: 1_000, track: true }
  ])
  t.equal(rules.policyFor('dash-1', undefined).track, false, 'track: false')
  const sensor = rules.policyFor('sensor-1', 'gateway')
  t.equal(sensor.silentAfter, 30_000, 'first match wins over a later username rule')
  t.equal(sensor.ruleThreshold, true)
  t.equal(sensor.isHeartbeat('devices/s/heartbeat'), true)
  t.equal(sensor.isHeartbeat('devices/s/telemetry'), false, 'the rule heartbeat topics apply')
  t.equal(rules.policyFor('sensor-12', undefined).silentAfter, 60_000, '? is exactly one character')
  t.equal(rules.policyFor('other', 'gateway').silentAfter, 5_000, 'username rule')
  t.equal(rules.policyFor('x.1', 'both').silentAfter, 1_000, 'both conditions hold')
  t.equal(rules.policyFor('xa1', 'both').silentAfter, 90_000, 'a dot in a glob is literal')
  const fallback = rules.policyFor('other', undefined)
  t.same([fallback.silentAfter, fallback.ruleThreshold, fallback.track], [90_000, false, true])
  t.equal(fallback.isHeartbeat('$SYS/x'), false, '# does not match $ topics')
})

t.test('announced heartbeat_interval: numeric seconds in a JSON object, else ignored', async (t) => {
  t.equal(announcedInterval(Buffer.from('{"ts":1,"heartbeat_interval":30}')), 30_000)
  t.equal(announcedInterval('{"heartbeat_interval":0.5}'), 500)
  t.equal(announcedInterval(Buffer.from('{"heartbeat_interval":"30"}')), null, 'a string is not a number')
  t.equal(announcedInterval(Buffer.from('{"heartbeat_interval":-1}')), null)
  t.equal(announcedInterval(Buffer.from('{"heartbeat_interval":30')), null, 'broken JSON')
  t.equal(announcedInterval(Buffer.from('plain text 23.5')), null)
  t.equal(announcedInterval(Buffer.from([0xff, 0x00, 0x01])), null, 'binary')
  t.equal(announcedInterval(Buffer.from('{"heartbeat_interval":2}')), 2000, 'the key at the very start')
  t.equal(announcedInterval(Buffer.from(`{"pad":"${'x'.repeat(400)}","heartbeat_interval":7}`)), 7000, 'a long payload')
  t.equal(announcedInterval(Buffer.from('{"heartbeat_intervals":7,"a_b":1}')), null, 'a similar key')
})

const status = (over: Partial<ClientStatus>): ClientStatus => ({
  clientId: 'dev-1', state: 'online', since: 1000, connectedAt: 1000, lastHeartbeat: 1000, lastPacket: 1000,
  reason: null, epoch: 1, node: 'a', kind: 'device', ...over
})

t.test('fleet view: an older epoch never replaces a newer one; offline ends an epoch', async (t) => {
  const view = new FleetView()
  t.same(view.accept(status({ epoch: 7 }), 'topic'), { previous: undefined })
  t.equal(view.accept(status({ epoch: 6, state: 'offline', reason: 'connection_lost', since: 5000 }), 'topic'), null,
    'an older epoch\'s offline never replaces a newer online')
  t.equal(view.get('dev-1')!.state, 'online')
  t.ok(view.accept(status({ epoch: 7, state: 'silent', since: 2000 }), 'topic'))
  t.equal(view.accept(status({ epoch: 7, state: 'online', since: 1500 }), 'topic'), null, 'an older state of the same epoch is ignored')
  t.ok(view.accept(status({ epoch: 7, state: 'offline', reason: 'keepalive_timeout', since: 1800 }), 'topic'),
    'offline is accepted even with an earlier since (time of death)')
  t.equal(view.accept(status({ epoch: 7, state: 'online', since: 9000 }), 'topic'), null, 'nothing follows offline in an epoch')
  const accepted = view.accept(status({ epoch: 8, since: 9000 }), 'topic')
  t.equal(accepted?.previous?.state, 'offline', 'a newer epoch replaces it, and says what it replaced')
  t.same(view.counts(), { online: 1, silent: 0, offline: 0 })
  t.equal(view.epoch('dev-1'), 8)
})

t.test('fleet view: counts, lists, nodes, and forgetting', async (t) => {
  const view = new FleetView()
  view.accept(status({ clientId: 'a', node: 'n1' }), 'ta')
  view.accept(status({ clientId: 'b', node: 'n1', state: 'silent' }), 'tb')
  view.accept(status({ clientId: 'c', node: 'n2', state: 'offline', reason: 'graceful' }), 'tc')
  t.same(view.counts(), { online: 1, silent: 1, offline: 1 })
  t.same(view.list('silent').map((s) => s.clientId), ['b'])
  t.same(view.connectedOn('n1').map((e) => e.status.clientId), ['a', 'b'])
  view.forget('a')
  t.equal(view.get('a'), undefined)
  t.equal(view.accept(status({ clientId: 'a', node: 'n1', state: 'offline', reason: 'kicked' }), 'ta'), null,
    'a late status of the forgotten epoch stays forgotten')
  t.ok(view.accept(status({ clientId: 'a', epoch: 2 }), 'ta'), 'a new epoch is accepted')
  t.same(view.counts(), { online: 1, silent: 1, offline: 1 })
})

t.test('end reasons: the broker\'s own mark, then DISCONNECT, keepalive, shutdown, protocol, lost', async (t) => {
  const base = { marked: null, disconnected: false, keepaliveExpired: false, shuttingDown: false, error: null }
  t.equal(endReason(base), 'connection_lost')
  t.equal(endReason({ ...base, disconnected: true }), 'graceful')
  t.equal(endReason({ ...base, keepaliveExpired: true, error: new Error('keep alive timeout') }), 'keepalive_timeout')
  t.equal(endReason({ ...base, shuttingDown: true }), 'server_shutdown')
  t.equal(endReason({ ...base, marked: 'takeover', disconnected: true }), 'takeover')
  t.equal(endReason({ ...base, error: new Error('Invalid header flag bits, must be 0x0 for connect packet') }), 'protocol_error')
  t.equal(endReason({ ...base, error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }), 'connection_lost')
  t.ok(isProtocolError(new VigilError('VIGIL_E_PACKET_TOO_LARGE', 'too big')), 'an oversized packet is a protocol error')
  t.notOk(isProtocolError(new Error('drain timeout')))
  t.notOk(isProtocolError(new VigilError('VIGIL_E_REDIS', 'redis unavailable: not acknowledged')), 'a PUBLISH refused because Redis failed is not the client\'s error')
  t.notOk(isProtocolError(Object.assign(new Error('Reached the max retries per request limit (which is 3).'), { name: 'MaxRetriesPerRequestError' })), 'nor is a Redis command that gave up')
  t.notOk(isProtocolError(new Error('Connection is closed.')))
})

t.test('status topic: ids that break the topic are not representable; the status space is reserved', async (t) => {
  const topic = new StatusTopic('$liveness/{clientId}')
  t.equal(topic.filter, '$liveness/+')
  t.equal(topic.topicFor('dev-1', undefined), '$liveness/dev-1')
  for (const bad of ['a/b', 'a+', '#', 'nul\u0000', '']) t.notOk(topic.representable(bad, undefined), JSON.stringify(bad))
  t.ok(topic.representable('dev-ü.1 x', undefined))
  t.notOk(topic.representable('x'.repeat(65_530), undefined), 'a topic over 65535 bytes')
  t.ok(topic.reserved('$liveness/dev-1'))
  t.ok(topic.reserved('$liveness/a/b'))
  t.ok(topic.reserved('$liveness'))
  t.notOk(topic.reserved('liveness/dev-1'))
  t.notOk(topic.reserved('$livenessx'))
  t.equal(topic.clientIdOf('$liveness/dev-1'), 'dev-1')
  t.equal(topic.clientIdOf('$other/dev-1'), null)
  const nested = new StatusTopic('fleet/{username}/{clientId}/alive')
  t.equal(nested.filter, 'fleet/+/+/alive')
  t.ok(nested.reserved('fleet/u/d/alive'))
  t.notOk(nested.reserved('fleet/u/d/other'))
  t.notOk(nested.representable('d', 'u/x'), 'a username that breaks the template')
  t.equal(nested.clientIdOf('fleet/u/d.1/alive'), 'd.1')
})

t.test('status payloads read back defensively', async (t) => {
  const good = status({ state: 'offline', reason: 'graceful', epoch: 3 })
  t.same(parseStatus(Buffer.from(JSON.stringify(good))), good)
  t.equal(parseStatus(Buffer.from('not json')), null)
  t.equal(parseStatus(Buffer.from('{"clientId":"x","state":"zombie","since":1,"epoch":1,"node":"a"}')), null)
  t.equal(parseStatus(Buffer.from('{"clientId":"x","state":"online","since":"1","epoch":1,"node":"a"}')), null)
})

t.test('delayed offline statuses: a newer epoch cancels them; due ones come out once', async (t) => {
  const delayed = new DelayedEndIndex()
  const delay = (s: ClientStatus, topic: string, due: number): boolean =>
    delayed.put({ clientId: s.clientId, epoch: s.epoch, due, status: { status: s, topic }, will: null })
  delay(status({ clientId: 'a', state: 'offline', epoch: 4 }), 'ta', 5000)
  delay(status({ clientId: 'b', state: 'offline', epoch: 2 }), 'tb', 5000)
  t.equal(delayed.cancel('a', 4) !== undefined, false, 'the same epoch does not cancel')
  t.equal(delayed.cancel('a', 5) !== undefined, true, 'a newer epoch does')
  t.same(delayed.takeDue(4999), [])
  t.same(delayed.takeDue(5000).map((h) => h.status?.status.clientId), ['b'])
  t.equal(delayed.size, 0)
})
