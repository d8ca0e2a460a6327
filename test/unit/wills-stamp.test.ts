import t from 'tap'
import { stampPayload, stampProperties, type Death } from '../../plugins/wills/stamp.js'

const AT = 1_763_700_000_123
const SEEN = 1_763_699_990_456
const death: Death = { clientId: 'dev-1', reason: 'connection_lost', at: AT, lastSeen: SEEN }
const json = (payload: Buffer): Record<string, unknown> => JSON.parse(payload.toString()) as Record<string, unknown>
const stampText = (text: string, unit: 's' | 'ms' = 's', d: Death = death): string => stampPayload(Buffer.from(text), d, unit).toString()

t.test('a JSON will with ts 0 gets the time of death, reason and last_seen, in seconds', async (t) => {
  const out = json(stampPayload(Buffer.from('{"state":"offline","ts":0,"x":1}'), death, 's'))
  t.same(out, { state: 'offline', ts: 1_763_700_000, x: 1, reason: 'connection_lost', last_seen: 1_763_699_990 })
})

t.test('tsUnit ms writes ts and last_seen in milliseconds', async (t) => {
  const out = json(stampPayload(Buffer.from('{"state":"offline","ts":0}'), death, 'ms'))
  t.equal(out.ts, AT)
  t.equal(out.last_seen, SEEN)
})

t.test('ts is set where absent, 0, -1 or null, and kept otherwise', async (t) => {
  for (const unit of ['s', 'ms'] as const) {
    const expected = unit === 's' ? Math.floor(AT / 1000) : AT
    t.equal(json(Buffer.from(stampText('{"a":1}', unit))).ts, expected, `absent (${unit})`)
    t.equal(json(Buffer.from(stampText('{"ts":0}', unit))).ts, expected, `0 (${unit})`)
    t.equal(json(Buffer.from(stampText('{"ts":-1}', unit))).ts, expected, `-1 (${unit})`)
    t.equal(json(Buffer.from(stampText('{"ts":null}', unit))).ts, expected, `null (${unit})`)
    t.equal(json(Buffer.from(stampText('{"ts":1234}', unit))).ts, 1234, `a real ts stays (${unit})`)
    t.equal(json(Buffer.from(stampText('{"ts":"0"}', unit))).ts, '0', `a string ts is the device's own (${unit})`)
  }
})

t.test('reason and last_seen already present are kept', async (t) => {
  const out = json(stampPayload(Buffer.from('{"ts":0,"reason":"graceful","last_seen":5}'), death, 's'))
  t.same(out, { ts: 1_763_700_000, reason: 'graceful', last_seen: 5 })
  t.equal(json(stampPayload(Buffer.from('{"reason":null}'), death, 's')).reason, null, 'null counts as present')
})

t.test('last_seen is null when the client never sent a heartbeat', async (t) => {
  t.equal(json(stampPayload(Buffer.from('{}'), { ...death, lastSeen: null }, 's')).last_seen, null)
})

t.test('every other field is kept byte for byte, in order', async (t) => {
  const text = '{ "big": 12345678901234567890, "f": 1.0, "s": "a\\u0041\\"}", "n": {"ts": 0, "a": [1, {"b": "}"}]}, "ts" : 0 , "e": 1e3 }\n'
  const out = stampText(text)
  t.equal(out, '{ "big": 12345678901234567890, "f": 1.0, "s": "a\\u0041\\"}", "n": {"ts": 0, "a": [1, {"b": "}"}]}, "ts" : 1763700000 , "e": 1e3 ,"reason":"connection_lost","last_seen":1763699990}\n')
  t.equal(json(Buffer.from(out)).n && (json(Buffer.from(out)).n as { ts: number }).ts, 0, 'a nested ts is not the will\'s ts')
})

t.test('an empty object and an object with the last duplicate ts', async (t) => {
  t.equal(stampText('{}'), '{"ts":1763700000,"reason":"connection_lost","last_seen":1763699990}')
  t.equal(stampText('{"ts":5,"ts":0,"reason":"r","last_seen":1}'), '{"ts":5,"ts":1763700000,"reason":"r","last_seen":1}')
})

t.test('a JSON will with everything already set passes as the same buffer', async (t) => {
  const payload = Buffer.from('{"ts":17,"reason":"x","last_seen":3}')
  t.equal(stampPayload(payload, death, 's'), payload)
})

t.test('text placeholders are replaced', async (t) => {
  t.equal(stampText('offline at {iso} ({reason})'), 'offline at 2025-11-21T04:40:00.123Z (connection_lost)')
  t.equal(stampText('{clientId} died {ts} / {ts_ms}'), 'dev-1 died 1763700000 / 1763700000123')
  t.equal(stampText('{clientId} died {ts}', 'ms'), 'dev-1 died 1763700000123')
  t.equal(stampText('{unknown} {ts'), '{unknown} {ts', 'unknown placeholders stay')
})

t.test('a JSON value that is not an object is text', async (t) => {
  t.equal(stampText('["{reason}"]'), '["connection_lost"]')
  t.equal(stampText('{not json {reason}'), '{not json connection_lost')
})

t.test('placeholder-free text and binary pass byte-identical (the same buffer)', async (t) => {
  for (const payload of [
    Buffer.from('offline'),
    Buffer.from('brace { but no placeholder }'),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7b, 0x74, 0x73, 0x7d]), // "{", invalid UTF-8, "{ts}"
    Buffer.from([0x00, 0x01, 0x02, 0x80]),
    Buffer.alloc(0)
  ]) {
    const copy = Buffer.from(payload)
    const out = stampPayload(payload, death, 's')
    t.equal(out, payload, `unchanged: ${copy.toString('hex')}`)
    t.same(out, copy)
  }
})

t.test('MQTT 5: the stamp as user properties vigil-reason and vigil-ts (ms), the will\'s own kept first', async (t) => {
  const own = { contentType: 'application/json', userProperties: { a: '1', 'vigil-ts': 'forged' } }
  const out = stampProperties(own, { reason: 'graceful_with_will', at: 1700000000123.7 })
  t.same(out, { contentType: 'application/json', userProperties: { a: '1', 'vigil-reason': 'graceful_with_will', 'vigil-ts': '1700000000123' } })
  t.same(Object.keys(out.userProperties!), ['a', 'vigil-reason', 'vigil-ts'], 'order: the will\'s, then Vigil\'s')
  t.same(own.userProperties, { a: '1', 'vigil-ts': 'forged' }, 'input unchanged')
  t.same(stampProperties(undefined, { reason: 'connection_lost', at: 5 }), { userProperties: { 'vigil-reason': 'connection_lost', 'vigil-ts': '5' } })
})
