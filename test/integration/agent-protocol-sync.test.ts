/**
 * bench/simulator.ts and the firmware core speak the same protocol: the same
 * topics and, for the same inputs, the same payload bytes (the core's
 * encoder run through firmware/build/encode-sample).
 */
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { ackPayload, birthPayload, deviceTopics, gracefulPayload, heartbeatPayload, telemetryPayload, willPayload } from '../../bench/device-payloads.js'
import { ENCODE_SAMPLE_BIN, firmwareBinary } from '../helpers/agent.js'

const core = (...args: string[]): string => execFileSync(firmwareBinary(ENCODE_SAMPLE_BIN), args, { encoding: 'utf8' }).replace(/\n$/, '')

t.test('will and graceful stop, byte for byte', async (t) => {
  t.equal(core('will'), willPayload())
  t.equal(core('graceful'), gracefulPayload())
})

t.test('birth, byte for byte', async (t) => {
  for (const [ts, fw, boot] of [[1763700000, '1.0.0', 1], [0, '2.10.3-rc1', 4294967295], [1, 'x "quoted" \\ fw', 7]] as const) {
    t.equal(core('birth', String(ts), fw, String(boot)), birthPayload(ts, fw, boot), `birth ${ts} ${fw} ${boot}`)
  }
})

t.test('heartbeat, byte for byte, whole and fractional intervals', async (t) => {
  for (const interval of [30, 1, 0.5, 2.5, 0.125, 86400]) {
    const hb = { ts: 1763700000, uptime: 12345, heap: 100000, rssi: -60, interval }
    t.equal(core('heartbeat', String(hb.ts), String(hb.uptime), String(hb.heap), String(hb.rssi), String(interval)), heartbeatPayload(hb), `interval ${interval}`)
  }
})

t.test('command ack, byte for byte', async (t) => {
  t.equal(core('ack', 'c-1', 'ok', '{}'), ackPayload('c-1', true, {}))
  t.equal(core('ack', '7f1c-uuid', 'error', '"unknown_command"'), ackPayload('7f1c-uuid', false, 'unknown_command'))
  t.equal(core('ack', 'c-2', 'ok', '{"a":[1,2,{"b":null}]}'), ackPayload('c-2', true, { a: [1, 2, { b: null }] }))
})

t.test('telemetry, byte for byte', async (t) => {
  const cases = [
    { ts: 1763700000, seq: 1, dropped: 0, fields: [{ name: 't', value: 20.5, decimals: 2 }] },
    { ts: 5, seq: 77, dropped: 12, fields: [{ name: 'load1', value: 0.25, decimals: 2 }, { name: 'mem_avail_kb', value: 812345, decimals: 0 }] },
    { ts: 0, seq: 3, dropped: 0, fields: [{ name: 't', value: 21, decimals: 2 }, { name: 'rh', value: -3.5, decimals: 1 }] }
  ]
  for (const c of cases) {
    const args = c.fields.map((f) => `${f.name}:${f.value}:${f.decimals}`)
    t.equal(core('telemetry', String(c.ts), String(c.seq), String(c.dropped), ...args), telemetryPayload(c.ts, c.seq, c.fields, c.dropped), args.join(' '))
  }
})

t.test('a missing firmware build fails with how to build it, never a silent skip', async (t) => {
  t.throws(() => firmwareBinary('/nonexistent/firmware/build/vigil-agent'), /vigil-agent is missing: build the firmware first with `make -C firmware`/)
})

t.test('topics', async (t) => {
  const topics = deviceTopics('gw-7')
  t.same(core('topics', 'gw-7').split('\n'), [topics.status, topics.heartbeat, topics.telemetry, topics.commands, topics.ack])
})
