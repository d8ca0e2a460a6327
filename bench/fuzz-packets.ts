/**
 * Seeded MQTT packet fuzzing (issue 14): valid CONNECT / PUBLISH / SUBSCRIBE /
 * UNSUBSCRIBE / PINGREQ packets, mutated (bytes flipped, truncated, extended,
 * remaining length rewritten, header type changed, strings with invalid UTF-8
 * or NUL, wildcards in odd places). Each case is the bytes one fresh
 * connection sends. Pure and deterministic: the same seed gives the same cases.
 */
import mqttPacket from 'mqtt-packet'

/** mulberry32: small, fast, good enough to spread mutations; seeded for reproducible failures. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const gen = (packet: object): Buffer => mqttPacket.generate(packet as mqttPacket.Packet)
const ODD_TOPICS = ['a/#/b', 'a+/b', '#', '+', '$SYS/x', '$liveness/victim', 'a\u0000b', 'devices/x/commands/ack', '', '/', '//', 'a/b/#']

function connect (rand: () => number, id: string): Buffer {
  const variants: object[] = [
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 30 },
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive: 0, username: 'u', password: Buffer.from('p') },
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 5,
      will: { topic: 'devices/' + id + '/status', payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true } },
    { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, clientId: id, keepalive: 30 }
  ]
  return gen(variants[Math.floor(rand() * variants.length)]!)
}

function follower (rand: () => number, id: string): Buffer {
  const topic = rand() < 0.3 ? ODD_TOPICS[Math.floor(rand() * ODD_TOPICS.length)]! : `devices/${id}/telemetry`
  switch (Math.floor(rand() * 5)) {
    case 0: return gen({ cmd: 'publish', topic: topic.length > 0 ? topic : 'x', payload: Buffer.alloc(Math.floor(rand() * 64), 7), qos: 0, retain: false, dup: false })
    case 1: return gen({ cmd: 'publish', topic: topic.length > 0 ? topic : 'x', payload: Buffer.from('{"ts":0}'), qos: 1, messageId: 1 + Math.floor(rand() * 65534), retain: rand() < 0.5, dup: false })
    case 2: return gen({ cmd: 'subscribe', messageId: 1 + Math.floor(rand() * 65534), subscriptions: [{ topic: topic.length > 0 ? topic : '#', qos: Math.floor(rand() * 3) }] })
    case 3: return gen({ cmd: 'unsubscribe', messageId: 1 + Math.floor(rand() * 65534), unsubscriptions: [topic.length > 0 ? topic : 'x'] })
    default: return gen({ cmd: 'pingreq' })
  }
}

function mutate (rand: () => number, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes)
  switch (Math.floor(rand() * 7)) {
    case 0: { // flip a few bytes
      const n = 1 + Math.floor(rand() * 4)
      for (let i = 0; i < n && out.length > 0; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256)
      return out
    }
    case 1: return out.subarray(0, Math.floor(rand() * out.length)) // truncated
    case 2: return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 32) }, () => Math.floor(rand() * 256)))])
    case 3: { // remaining length lies
      if (out.length > 1) out[1] = Math.floor(rand() * 256)
      return out
    }
    case 4: { // another packet type, same body
      out[0] = (Math.floor(rand() * 16) << 4) | Math.floor(rand() * 16)
      return out
    }
    case 5: { // invalid UTF-8 or NUL inside the first string
      if (out.length > 6) out[4 + Math.floor(rand() * (out.length - 4))] = rand() < 0.5 ? 0xff : 0x00
      return out
    }
    default: return out // unmutated: valid input must keep working
  }
}

/**
 * Case `index` of the run seeded `seed`: the bytes one connection sends, in order.
 * Client ids repeat over 64 identities: what the broker rightly keeps per identity
 * (a status, an epoch) stays bounded, so memory growth after a run is a leak, not the
 * fleet view, and concurrent cases with the same id exercise takeovers.
 */
export function fuzzCase (seed: number, index: number): Buffer {
  const rand = prng((seed * 1_000_003 + index) >>> 0)
  const id = `fuzz-${index % 64}`
  const parts: Buffer[] = []
  const mutateConnect = rand() < 0.3
  parts.push(mutateConnect ? mutate(rand, connect(rand, id)) : connect(rand, id))
  const followers = Math.floor(rand() * 4)
  for (let i = 0; i < followers; i++) parts.push(rand() < 0.6 ? mutate(rand, follower(rand, id)) : follower(rand, id))
  return Buffer.concat(parts)
}
