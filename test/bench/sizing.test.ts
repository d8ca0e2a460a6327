import t from 'tap'
import { fileURLToPath } from 'node:url'
import { ackBytes, expect, headroom, loadFleet, publishBytes, varintBytes } from '../../bench/sizing.js'

const file = fileURLToPath(new URL('../../bench/fleets/smart-building.yaml', import.meta.url))

t.test('the smart-building example loads with the issue\'s classes', async (t) => {
  const fleet = loadFleet(file)
  t.equal(fleet.subscribersPerTopic, 3)
  t.same(fleet.classes.map((c) => [c.name, c.count, c.perMinute, c.qos]), [
    ['temperature', 800, 1, 0], ['occupancy', 400, 2, 0], ['lights', 300, 0.2, 1], ['hvac', 200, 0.5, 1],
    ['locks', 100, 0.1, 2], ['smoke', 150, 0.05, 1], ['energy', 50, 1, 1]])
  t.equal(fleet.classes[0]!.payloadBytes, 32)
  t.equal(fleet.classes[6]!.payloadBytes, 128)
})

t.test('expected message rates: 1827.5 messages a minute in, three times that out', async (t) => {
  const e = expect(loadFleet(file))
  t.equal(e.devices, 2000)
  t.equal(e.connections, 2003)
  // 800 + 800 + 60 + 100 + 10 + 7.5 + 50 = 1827.5 per minute
  t.equal(e.inboundPerSec.toFixed(4), (1827.5 / 60).toFixed(4))
  t.equal(e.outboundPerSec.toFixed(4), (3 * 1827.5 / 60).toFixed(4))
  // lights, HVAC, locks and smoke publish less than once per 60 s keepalive: 750 devices ping
  t.equal(e.pingsPerSec, 750 / 60)
  const scaled = expect(loadFleet(file), 20)
  t.equal(scaled.inboundPerSec.toFixed(4), (20 * 1827.5 / 60).toFixed(4), 'time scale multiplies every rate')
})

t.test('wire bytes: PUBLISH framing, acks per QoS, and the bandwidth sum', async (t) => {
  t.equal(varintBytes(127), 1)
  t.equal(varintBytes(128), 2)
  // "building/temperature/799": 24 bytes; 2 + 24 + 32 = 58 body + 2 header
  t.equal(publishBytes(24, 0, 32), 60)
  // "building/energy/49": 18 bytes; 2 + 18 + 2 + 128 = 150 body, 2-byte length
  t.equal(publishBytes(18, 1, 128), 153)
  t.same([ackBytes(0), ackBytes(1), ackBytes(2)], [0, 4, 12])
  const e = expect(loadFleet(file))
  const temp = e.classes.find((c) => c.name === 'temperature')!
  t.equal(temp.publishBytes, 60)
  // Temperature alone: 800/60 msg/s x 60 B in, x3 out.
  const tempIn = 800 / 60 * 60
  t.ok(e.inboundBytesPerSec > tempIn, 'inbound includes every class')
  t.ok(e.outboundBytesPerSec > 2.5 * e.inboundBytesPerSec, 'outbound is about 3x inbound with 3 subscribers')
  // Independent recomputation of the whole sum.
  const fleet = loadFleet(file)
  let inB = 0
  let outB = 0
  for (const c of fleet.classes) {
    const r = c.count * c.perMinute / 60
    const topic = `building/${c.name}/${c.count - 1}`.length
    const pb = publishBytes(topic, c.qos, c.payloadBytes)
    const toSender = c.qos === 0 ? 0 : c.qos === 1 ? 4 : 8
    const fromSender = c.qos === 2 ? 4 : 0
    inB += r * (pb + fromSender) + 3 * r * toSender
    outB += 3 * r * (pb + fromSender) + r * toSender
    if (c.perMinute < 1) { inB += 2 * c.count / 60; outB += 2 * c.count / 60 }
  }
  t.equal(e.inboundBytesPerSec.toFixed(6), inB.toFixed(6))
  t.equal(e.outboundBytesPerSec.toFixed(6), outB.toFixed(6))
  t.equal(e.memoryBytes, fleet.memory.baseBytes + fleet.memory.perConnectionBytes * 2003)
})

t.test('headroom: one broker core over the CPU the real-time fleet needs', async (t) => {
  // 25% of a core at x10 => 2.5% per real fleet => 40x headroom
  t.equal(Math.round(headroom(0.25, 10, 50e6, 1e9).cpu), 40)
  t.equal(headroom(0.25, 10, 50e6, 1e9).memory, 20)
  t.equal(headroom(0, 1, 0, 1).cpu, Infinity)
})
