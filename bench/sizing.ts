/**
 * Sizing arithmetic, pure: a fleet description in, the expected broker load
 * out (messages/s in and out, bandwidth on the wire, memory). The sizing
 * scenario runs the same fleet and compares.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { z } from 'zod'

const deviceClass = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/),
  count: z.number().int().min(0).max(1_000_000),
  perMinute: z.number().min(0).max(60_000),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  payloadBytes: z.number().int().min(0).max(256 * 1024)
})

export const fleetSchema = z.strictObject({
  name: z.string(),
  subscribersPerTopic: z.number().int().min(0).max(1000).default(1),
  keepalive: z.number().int().min(0).max(65535).default(60),
  topic: z.string().default('fleet/{class}/{id}'),
  memory: z.strictObject({
    baseBytes: z.number().min(0).default(80 * 2 ** 20),
    perConnectionBytes: z.number().min(0).default(24 * 1024)
  }).prefault({}),
  classes: z.array(deviceClass).min(1)
})

export type FleetDescription = z.output<typeof fleetSchema>
export type DeviceClass = FleetDescription['classes'][number]

export function loadFleet (file: string): FleetDescription {
  const text = readFileSync(file, 'utf8')
  const result = fleetSchema.safeParse(parse(text))
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new Error(`${file}: ${issue.path.join('.')}: ${issue.message}`)
  }
  return result.data
}

export function topicFor (fleet: FleetDescription, cls: string, id: number): string {
  return fleet.topic.replace('{class}', cls).replace('{id}', String(id))
}

/** Bytes of the MQTT remaining-length field for a body of n bytes. */
export function varintBytes (n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

/** Bytes of one PUBLISH on the wire: fixed header + topic + packet id (QoS > 0) + payload. */
export function publishBytes (topicLength: number, qos: 0 | 1 | 2, payloadBytes: number): number {
  const body = 2 + topicLength + (qos > 0 ? 2 : 0) + payloadBytes
  return 1 + varintBytes(body) + body
}

/** Acknowledgement bytes per message: PUBACK (QoS 1), PUBREC+PUBREL+PUBCOMP (QoS 2), 4 bytes each. */
export function ackBytes (qos: 0 | 1 | 2): number {
  return qos === 0 ? 0 : qos === 1 ? 4 : 12
}

export interface ClassExpectation {
  name: string
  devices: number
  inboundPerSec: number
  outboundPerSec: number
  publishBytes: number
}

export interface Expectation {
  devices: number
  subscribers: number
  connections: number
  inboundPerSec: number
  outboundPerSec: number
  /** Bytes/s from clients to the broker: device PUBLISHes, subscribers' acks, PINGREQs. */
  inboundBytesPerSec: number
  /** Bytes/s from the broker: deliveries, acks to devices, PINGRESPs. */
  outboundBytesPerSec: number
  pingsPerSec: number
  memoryBytes: number
  classes: ClassExpectation[]
}

/**
 * Expected load at real time x `timeScale`. Topic length uses the longest id
 * of the class (a safe upper bound). Subscribers take each message at its
 * publish QoS; a device pings only when it publishes less often than its keepalive.
 */
export function expect (fleet: FleetDescription, timeScale = 1): Expectation {
  const subs = fleet.subscribersPerTopic
  let inbound = 0
  let outbound = 0
  let inBytes = 0
  let outBytes = 0
  let pings = 0
  let devices = 0
  const classes: ClassExpectation[] = []
  for (const c of fleet.classes) {
    const rate = c.count * c.perMinute / 60 * timeScale
    const topicLength = Buffer.byteLength(topicFor(fleet, c.name, Math.max(0, c.count - 1)))
    const pb = publishBytes(topicLength, c.qos, c.payloadBytes)
    const ack = ackBytes(c.qos)
    // QoS 2: PUBREC and PUBCOMP go to the sender, PUBREL from it; split as 8 out / 4 in per hop.
    const ackToSender = c.qos === 2 ? 8 : ack
    const ackFromSender = c.qos === 2 ? 4 : 0
    inbound += rate
    outbound += rate * subs
    inBytes += rate * (pb + ackFromSender) + rate * subs * ackToSender
    outBytes += rate * subs * (pb + ackFromSender) + rate * ackToSender
    if (fleet.keepalive > 0 && c.perMinute / 60 < 1 / fleet.keepalive) {
      // PINGREQ 2 bytes in, PINGRESP 2 bytes out, once per keepalive per idle device.
      const p = c.count / fleet.keepalive * timeScale
      pings += p
      inBytes += 2 * p
      outBytes += 2 * p
    }
    devices += c.count
    classes.push({ name: c.name, devices: c.count, inboundPerSec: rate, outboundPerSec: rate * subs, publishBytes: pb })
  }
  const connections = devices + subs
  return {
    devices, subscribers: subs, connections, inboundPerSec: inbound, outboundPerSec: outbound,
    inboundBytesPerSec: inBytes, outboundBytesPerSec: outBytes, pingsPerSec: pings,
    memoryBytes: fleet.memory.baseBytes + fleet.memory.perConnectionBytes * connections,
    classes
  }
}

export interface Headroom {
  /** How many times this fleet's real-time load one broker core could carry (Node is single-threaded). */
  cpu: number
  /** How many times the per-connection memory the machine's free memory could hold. */
  memory: number
}

/**
 * Headroom from a measured run at `timeScale`: the broker used `brokerCpu` of
 * one core carrying timeScale x the fleet's load.
 */
export function headroom (brokerCpu: number, timeScale: number, rssGrowthBytes: number, freeMemoryBytes: number): Headroom {
  const cpuPerFleet = brokerCpu / timeScale
  return {
    cpu: cpuPerFleet > 0 ? 1 / cpuPerFleet : Infinity,
    memory: rssGrowthBytes > 0 ? freeMemoryBytes / rssGrowthBytes : Infinity
  }
}
