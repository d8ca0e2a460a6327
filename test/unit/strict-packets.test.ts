/**
 * The pure rules behind Vigil's strict MQTT 3.1.1 checks (broker/aedes/):
 * strings [MQTT-1.5.3], topic filters and names [MQTT-4.7], CONNECT fields.
 */
import t from 'tap'
import { connectVerdict, type RawConnect } from '../../broker/aedes/connect-rules.js'
import { stringProblem } from '../../broker/aedes/mqtt-strings.js'
import { filterProblem, startsWithWildcard, topicNameProblem } from '../../broker/aedes/topic-syntax.js'

const decode = (bytes: number[]): [string, Buffer, number, number] => {
  const raw = Buffer.from(bytes)
  return [raw.toString('utf8'), raw, 0, raw.length]
}

t.test('ill-formed UTF-8 is refused, whatever form it takes [MQTT-1.5.3-1]', async (t) => {
  for (const [what, bytes] of [
    ['a lone continuation byte', [0x61, 0x80]],
    ['0xff', [0xff]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an overlong NUL', [0xc0, 0x80]],
    ['an overlong slash', [0xe0, 0x80, 0xaf]],
    ['an encoded high surrogate', [0xed, 0xa0, 0x80]],
    ['an encoded low surrogate', [0xed, 0xbf, 0xbf]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]]
  ] as Array<[string, number[]]>) {
    t.equal(stringProblem(...decode(bytes)), 'invalid_utf8', what)
  }
})

t.test('U+0000 is refused [MQTT-1.5.3-2]; what the spec only discourages is allowed', async (t) => {
  t.equal(stringProblem(...decode([0x61, 0x00])), 'null_character', 'U+0000')
  t.equal(stringProblem(...decode([0xef, 0xbf, 0xbd])), null, 'a well-formed U+FFFD')
  t.equal(stringProblem(...decode([0x01, 0x7f, 0xc2, 0x9f])), null, 'control characters (SHOULD NOT, not MUST NOT)')
  t.equal(stringProblem(...decode([0xef, 0xbf, 0xbf])), null, 'the non-character U+FFFF')
  t.equal(stringProblem(...decode([0xf0, 0x9f, 0x98, 0x80])), null, 'a 4-byte character')
})

t.test('the raw bytes are only read when the decoded string has a replacement character', async (t) => {
  let read = 0
  const raw = { slice: () => { read++; return new Uint8Array() } }
  t.equal(stringProblem('devices/1/heartbeat', raw, 0, 19), null)
  t.equal(read, 0, 'a plain string costs two indexOf, no copy')
})

t.test('topic filters: + and # fill whole levels, # last [MQTT-4.7.1-2] [MQTT-4.7.1-3]', async (t) => {
  for (const good of ['#', '+', 'a/+', '+/+', '+/a/#', 'a//b', '/', 'a/+/#', '$liveness/+', 'sport/tennis/player1/#']) {
    t.equal(filterProblem(good), null, `${good} is a filter`)
  }
  for (const bad of ['', 'a+', '+a', 'a/b+', 'a/+b/c', 'a#', 'a/b#', '#/a', 'a/#/b', '##', '++', 'a/++']) {
    t.not(filterProblem(bad), null, `${JSON.stringify(bad)} is not`)
  }
})

t.test('topic names: no wildcards, not empty [MQTT-4.7.1-1] [MQTT-4.7.3-1]', async (t) => {
  t.equal(topicNameProblem('a/b'), null)
  t.not(topicNameProblem(''), null)
  t.not(topicNameProblem('a/+'), null)
  t.not(topicNameProblem('a/#'), null)
  t.ok(startsWithWildcard('+/x') && startsWithWildcard('#') && !startsWithWildcard('$x/#') && !startsWithWildcard('a/+'))
})

const base: RawConnect = { protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'c1' }

t.test('CONNECT: protocol name and level go together [MQTT-3.1.2-2]', async (t) => {
  t.equal(connectVerdict(base), null, 'MQTT 4')
  t.equal(connectVerdict({ ...base, protocolId: 'MQIsdp', protocolVersion: 3 }), null, 'MQIsdp 3')
  t.equal(connectVerdict({ ...base, protocolVersion: 5 }), null, 'MQTT 5 (served by Aedes 2)')
  t.match(connectVerdict({ ...base, protocolVersion: 3 }), { action: 'connack', returnCode: 1 }, 'MQTT 3')
  t.match(connectVerdict({ ...base, protocolId: 'MQIsdp', protocolVersion: 4 }), { action: 'connack', returnCode: 1 }, 'MQIsdp 4')
})

t.test('CONNECT: MQTT 5 allows an empty ClientId with Clean Start 0 [MQTT-3.1.3-6] and a password without a user name', async (t) => {
  const v5 = { ...base, protocolVersion: 5 }
  t.equal(connectVerdict({ ...v5, clientId: '', clean: false }), null, 'the server assigns one')
  t.equal(connectVerdict({ ...v5, password: Buffer.from('p') }), null, 'password flag alone (3.1.2.9)')
  t.match(connectVerdict({ ...v5, will: { topic: 'a/#' } }), { action: 'close' }, 'a will topic with a wildcard is still refused')
})

t.test('CONNECT: an empty clientId needs CleanSession 1 [MQTT-3.1.3-8]', async (t) => {
  t.equal(connectVerdict({ ...base, clientId: '' }), null, 'clean 1')
  t.match(connectVerdict({ ...base, clientId: '', clean: false }), { action: 'connack', returnCode: 2 }, 'clean 0')
  t.match(connectVerdict({ ...base, protocolId: 'MQIsdp', protocolVersion: 3, clientId: '' }), { action: 'connack', returnCode: 2 },
    'MQTT 3.1 needs 1 to 23 characters')
})

t.test('CONNECT: no password without a username [MQTT-3.1.2-22]; a will topic is a topic name', async (t) => {
  t.match(connectVerdict({ ...base, password: Buffer.from('x') }), { action: 'close' }, 'password alone')
  t.equal(connectVerdict({ ...base, username: 'u', password: Buffer.from('x') }), null, 'both')
  t.equal(connectVerdict({ ...base, username: 'u' }), null, 'username alone')
  t.match(connectVerdict({ ...base, will: { topic: 'a/#' } }), { action: 'close' }, 'will topic with #')
  t.match(connectVerdict({ ...base, will: { topic: '' } }), { action: 'close' }, 'empty will topic')
  t.equal(connectVerdict({ ...base, will: { topic: 'devices/c1/status' } }), null, 'a plain will')
})

t.test('the offline queue: no $ message for a wildcard filter, RETAIN 0, the caller\'s packet untouched', async (t) => {
  const { guardOfflineQueue } = await import('../../broker/aedes/queued-dollar.js')
  const calls: Array<{ subs: string[], retain: boolean | undefined }> = []
  const persistence = {
    async outgoingEnqueueCombi (subs: Array<{ topic: string }>, packet: { topic: string, retain?: boolean }) {
      calls.push({ subs: subs.map((s) => s.topic), retain: packet.retain })
    }
  }
  guardOfflineQueue(persistence)
  const subs = [{ topic: '#' }, { topic: '+/x' }, { topic: '$liveness/+' }, { topic: '$liveness/d1' }]
  const status = { topic: '$liveness/d1', retain: true }
  await persistence.outgoingEnqueueCombi(subs, status)
  t.same(calls.pop(), { subs: ['$liveness/+', '$liveness/d1'], retain: false }, '$ topic: only filters starting with $, RETAIN 0 [MQTT-4.7.2-1]')
  t.equal(status.retain, true, 'the packet going on to live delivery keeps its flag')
  await persistence.outgoingEnqueueCombi([{ topic: '#' }], { topic: '$app/x' })
  t.same(calls, [], 'nothing left to queue: the persistence is not called')
  await persistence.outgoingEnqueueCombi([{ topic: '#' }, { topic: 'a/+' }], { topic: 'a/b', retain: false })
  t.same(calls.pop(), { subs: ['#', 'a/+'], retain: false }, 'a plain topic goes to every filter, as it was')
  t.throws(() => guardOfflineQueue({}), /outgoingEnqueueCombi/, 'a persistence without the call fails at start-up')
})
