import t from 'tap'
import { availabilities, availability, window, type HistoryEntry } from '../../plugins/insights/availability.js'
import { CHANGED, DeviceInsight, deviceTimeMs, FLAP_WINDOW_MS, RESTARTED } from '../../plugins/insights/core.js'
import { MemoryHistory } from '../../plugins/insights/history-memory.js'
import { parseBirth, parseHeartbeat } from '../../plugins/insights/payload.js'

const T0 = 1_763_700_000_000

t.test('a birth whose boot counter changed is one reboot, dated when it arrived; the first birth is a baseline', async (t) => {
  const dev = new DeviceInsight('d')
  t.equal(dev.birth('1.0.0', 7, 1, T0), CHANGED, 'fw learnt, no reboot from a first boot counter')
  t.equal(dev.restarts, 0)
  t.equal(dev.birth('1.0.0', 7, 2, T0 + 1000), 0, 'a reconnect with the same boot: nothing')
  t.equal(dev.birth('1.0.0', 8, 3, T0 + 5000), CHANGED | RESTARTED)
  t.equal(dev.restarts, 1)
  t.equal(dev.lastRestart, T0 + 5000)
  t.equal(dev.birth('1.1.0', 8, 3, T0 + 6000), CHANGED, 'a new firmware version alone is a change, not a reboot')
  t.equal(dev.fw, '1.1.0')
})

t.test('heartbeat uptime going backwards is a reboot, dated uptime seconds before the heartbeat', async (t) => {
  const dev = new DeviceInsight('d')
  dev.heartbeat(null, 100, 1, T0)
  t.equal(dev.heartbeat(null, 160, 1, T0 + 60_000) & RESTARTED, 0, 'uptime growing: no reboot')
  t.equal(dev.heartbeat(null, 5, 2, T0 + 120_000) & RESTARTED, RESTARTED)
  t.equal(dev.restarts, 1)
  t.equal(dev.lastRestart, T0 + 115_000)
  t.equal(dev.heartbeat(null, 9, 2, T0 + 124_000) & RESTARTED, 0, 'growing again')
  t.equal(dev.heartbeat(null, 1, 2, T0 + 130_000) & RESTARTED, RESTARTED, 'backwards again: another reboot')
  t.equal(dev.restarts, 2)
})

t.test('a reboot seen in the birth and again in the first heartbeat after it counts once; the larger signal count wins', async (t) => {
  const dev = new DeviceInsight('d')
  dev.birth('1.0.0', 1, 1, T0)
  dev.heartbeat(null, 3600, 1, T0 + 3600_000)
  t.ok(dev.birth('1.0.0', 2, 2, T0 + 3700_000) & RESTARTED)
  t.equal(dev.heartbeat(null, 10, 2, T0 + 3710_000) & RESTARTED, 0, 'same connection epoch: the same reboot')
  t.equal(dev.restarts, 1)
  t.ok(dev.birth('1.0.0', 3, 2, T0 + 3720_000) & RESTARTED, 'a second boot counter change on the same connection is a second reboot')
  t.equal(dev.heartbeat(null, 4, 2, T0 + 3724_000) & RESTARTED, 0, '... which its heartbeat confirms')
  t.equal(dev.restarts, 2)
  t.ok(dev.heartbeat(null, 2, 3, T0 + 3800_000) & RESTARTED, 'a later connection with uptime back again: another reboot')
  t.equal(dev.restarts, 3)
})

t.test('device ts in seconds or milliseconds; an unset clock is no ts', async (t) => {
  t.equal(deviceTimeMs(1_763_700_000), 1_763_700_000_000, 'seconds')
  t.equal(deviceTimeMs(1_763_700_000.25), 1_763_700_000_250, 'fractional seconds')
  t.equal(deviceTimeMs(1_763_700_000_123), 1_763_700_000_123, 'milliseconds')
  for (const bad of [0, -1, 12_345, 500_000_000_000, Number.NaN, Number.POSITIVE_INFINITY]) t.ok(Number.isNaN(deviceTimeMs(bad)), `${bad} is not a date`)
})

t.test('clock skew is the median of the last heartbeats, null without a usable ts', async (t) => {
  const dev = new DeviceInsight('d')
  t.equal(dev.skew(), null)
  t.equal(dev.heartbeat(0, null, 1, T0), 0, 'ts 0: no skew, nothing changed')
  t.equal(dev.skew(), null)
  // A device clock 120 s ahead, ts in seconds, with one outlier.
  t.equal(dev.heartbeat((T0 + 120_000) / 1000, null, 1, T0) & CHANGED, CHANGED, 'skew first known')
  dev.publishedSkew = dev.skew()
  t.equal(dev.skew(), 120_000)
  t.equal(dev.heartbeat((T0 + 60_000 + 120_000) / 1000, null, 1, T0 + 60_000) & CHANGED, 0, 'the same skew: no new status')
  dev.heartbeat((T0 + 120_000 + 900_000) / 1000, null, 1, T0 + 120_000)
  t.equal(dev.skew(), 120_000, 'an outlier does not move the median')
  dev.heartbeat(T0 + 180_000 + 121_000, null, 1, T0 + 180_000)
  t.equal(dev.skew(), 120_500, 'a ts in ms counts too: the median of 120, 120, 121 and 900 s')
  for (let i = 0; i < 5; i++) dev.heartbeat(0, null, 1, T0 + 240_000 + i)
  t.equal(dev.skew(), null, 'five heartbeats without a usable ts: unknown again')
})

t.test('flapping is more than 5 connects within 5 minutes, and ends 5 minutes after the 6th-last connect', async (t) => {
  const dev = new DeviceInsight('d')
  for (let i = 1; i <= 5; i++) dev.connect(i, T0 + i * 10_000)
  t.equal(dev.flapping(T0 + 50_000), false, '5 connects are not flapping')
  t.equal(dev.connect(5, T0 + 55_000), false, 'an epoch already recorded is ignored')
  dev.connect(6, T0 + 60_000)
  t.equal(dev.flapping(T0 + 60_000), true, '6 connects in 50 s')
  t.equal(dev.flappingUntil(T0 + 60_000), T0 + 10_000 + FLAP_WINDOW_MS)
  t.equal(dev.flapping(T0 + 10_000 + FLAP_WINDOW_MS - 1), true)
  t.equal(dev.flapping(T0 + 10_000 + FLAP_WINDOW_MS), false, 'the oldest of the six left the window')
  const slow = new DeviceInsight('s')
  for (let i = 1; i <= 6; i++) slow.connect(i, T0 + i * 61_000)
  t.equal(slow.flapping(T0 + 6 * 61_000), false, '6 connects over 5 min 5 s')
})

const entry = (state: HistoryEntry['state'], at: number, epoch = 1): HistoryEntry =>
  ({ state, reason: state === 'offline' ? 'connection_lost' : null, at, epoch, node: 'n' })

t.test('availability: share of time online since first seen; silent and offline are down', async (t) => {
  const H = 3_600_000
  const history = [entry('online', T0), entry('silent', T0 + 0.5 * H), entry('online', T0 + 0.75 * H), entry('offline', T0 + 2 * H)]
  t.equal(availability(history, T0 + H, H), 0.75, 'first hour: 30 min online, 15 silent, 15 online')
  t.equal(availability(history, T0 + 3 * H, 24 * H), (0.5 + 1.25) / 3, 'since first seen, not the whole day')
  t.equal(availability(history, T0 + 3 * H, H), 0, 'the last hour offline')
  t.equal(availability([], T0, H), null, 'no history')
  t.equal(availability([entry('online', T0)], T0, H), 1, 'just seen, online')
  t.same(availabilities([...history].reverse(), T0 + H), { '1h': 0.75, '24h': 0.75, '7d': 0.75 }, 'entries in any order')
})

t.test('history keeps the last 7 days or 1,000 transitions, whichever is fewer', async (t) => {
  const store = new MemoryHistory()
  for (let i = 0; i < 1500; i++) store.record('d', entry(i % 2 === 0 ? 'online' : 'offline', T0 + i * 1000, i), T0 + i * 1000)
  const all = await store.read('d', 0, T0 + 1500_000)
  t.equal(all.length, 1000)
  t.equal(all[0]!.epoch, 500, 'the oldest dropped')
  t.equal((await store.read('d', T0 + 1400_000, T0 + 1500_000)).length, 100, 'since filters')
  const week = 7 * 86_400_000
  t.equal((await store.read('d', 0, T0 + 1000_000 + week)).length, 500, 'older than 7 days is gone on read')
  store.record('d', entry('online', T0 + 2 * week), T0 + 2 * week)
  t.equal((await store.read('d', 0, T0 + 2 * week)).length, 1, 'and trimmed on write')
  t.same(window([entry('online', 5), entry('offline', 3)], 0, 10).map((e) => e.at), [3, 5], 'oldest first')
})

t.test('birth and heartbeat payloads: parsed only with a key, fields type-checked', async (t) => {
  t.same(parseBirth('{"state":"online","ts":0,"fw":"1.2.3","boot":4}'), { fw: '1.2.3', boot: 4 })
  t.equal(parseBirth('{"state":"offline","reason":"graceful"}'), null, 'the graceful offline: nothing to read')
  t.equal(parseBirth('{"state":"online","fw":1}'), null, 'a number is no version')
  t.equal(parseBirth('not json "fw"'), null)
  t.same(parseHeartbeat('{"ts":1763700000,"uptime":12,"heap":1}'), { ts: 1763700000, uptime: 12 })
  t.same(parseHeartbeat('{"uptime":-3}'), { ts: null, uptime: null }, 'a negative uptime is none')
  t.equal(parseHeartbeat('{"heap":1,"rssi":-60}'), null, 'no key: not parsed')
  t.equal(parseHeartbeat(Buffer.from([0xff, 0x22, 0x74, 0x73, 0x22])), null, 'binary with the key bytes')
})
