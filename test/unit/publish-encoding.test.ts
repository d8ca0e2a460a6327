/**
 * broker/aedes/publish-encoding.ts writes, byte for byte, what mqtt-packet
 * writes for the packets it takes over (PUBLISH without properties, the four
 * acknowledgements without properties), for MQTT 3.1, 3.1.1 and 5, and leaves
 * every other packet to mqtt-packet.
 */
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { encodeAck, encodePublish } from '../../broker/aedes/publish-encoding.js'

const versions = [3, 4, 5] as const
const whole = (e: { head: Buffer, payload: Buffer | null }): Buffer => e.payload === null ? e.head : Buffer.concat([e.head, e.payload])

t.test('PUBLISH: the same bytes as mqtt-packet for every QoS, flag, topic and payload size', async (t) => {
  let cases = 0
  for (const protocolVersion of versions) {
    for (const qos of [0, 1, 2] as const) {
      for (const flags of [{ dup: false, retain: false }, { dup: true, retain: true }]) {
        for (const topic of ['a', 'devices/d-1/telemetry', 'd/ünï/☃', 't'.repeat(300)]) {
          for (const size of [0, 17, 100, 2048, 2049, 20_000, 200_000]) {
            const packet = { cmd: 'publish' as const, topic, payload: Buffer.alloc(size, 7), qos, ...flags, ...(qos > 0 ? { messageId: 1 + size % 65535 } : {}) }
            const expected = mqttPacket.generate(packet, { protocolVersion })
            const got = encodePublish(packet, protocolVersion)
            if (got === null) { t.fail(`null for ${JSON.stringify({ protocolVersion, qos, size })}`); continue }
            if (!whole(got).equals(expected)) t.fail(`differs: v${protocolVersion} qos ${qos} ${JSON.stringify(flags)} topic ${topic.length} payload ${size}`)
            if ((got.payload === null) !== (size <= 2048)) t.fail(`copy limit: payload ${size}`)
            cases++
          }
        }
      }
    }
  }
  t.equal(cases, 3 * 3 * 2 * 4 * 7, 'every case compared')
  t.ok(whole(encodePublish({ cmd: 'publish', topic: 'x', payload: Buffer.from('y'), qos: 0 }, 5)!).equals(
    mqttPacket.generate({ cmd: 'publish', topic: 'x', payload: Buffer.from('y'), qos: 0, retain: false, dup: false, properties: {} }, { protocolVersion: 5 })),
  'MQTT 5: no properties = an empty properties object')
})

t.test('PUBLISH: what it leaves to mqtt-packet', async (t) => {
  const base = { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 3 }
  t.equal(encodePublish({ ...base, properties: { messageExpiryInterval: 5 } }, 5), null, 'properties')
  t.equal(encodePublish({ ...base, properties: { topicAlias: 1 }, topic: '' }, 5), null, 'a topic alias with an empty topic')
  t.equal(encodePublish({ ...base, topic: '' }, 4), null, 'an empty topic (mqtt-packet refuses it)')
  t.equal(encodePublish({ ...base, topic: Buffer.from('a') }, 4), null, 'a Buffer topic')
  t.equal(encodePublish({ ...base, payload: 'text' }, 4), null, 'a string payload')
  t.equal(encodePublish({ ...base, messageId: undefined }, 4), null, 'QoS 1 without a Packet Identifier')
  t.not(encodePublish({ ...base, properties: {} }, 5), null, 'an empty properties object is none')
})

t.test('acknowledgements: the same bytes as mqtt-packet, with and without reason codes', async (t) => {
  for (const protocolVersion of versions) {
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      for (const reasonCode of protocolVersion === 5 ? [undefined, 0, 0x10, 0x87, 0x92] : [undefined]) {
        for (const dup of cmd === 'pubrel' ? [false] : [false, true]) {
          for (const messageId of [1, 300, 65535]) {
            const packet = { cmd, messageId, dup, ...(reasonCode === undefined ? {} : { reasonCode }) }
            const expected = mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion })
            const got = encodeAck(packet, protocolVersion)
            t.ok(got !== null && got.equals(expected), `${cmd} v${protocolVersion} rc ${String(reasonCode)} dup ${String(dup)} id ${messageId}: ${got?.toString('hex')} = ${expected.toString('hex')}`)
          }
        }
      }
    }
  }
  t.equal(encodeAck({ cmd: 'puback', messageId: 1, properties: { reasonString: 'no' } }, 5), null, 'properties: left to mqtt-packet')
  t.equal(encodeAck({ cmd: 'suback', messageId: 1 }, 5), null, 'not an acknowledgement of a PUBLISH')
  t.equal(encodeAck({ cmd: 'puback' }, 4), null, 'no Packet Identifier')
  t.equal(encodeAck({ cmd: 'pubrel', messageId: 1, dup: true }, 4), null, 'a PUBREL with DUP')
})
