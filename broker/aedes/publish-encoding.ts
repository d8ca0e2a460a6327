/**
 * An outbound PUBLISH, and its acknowledgements, in one or two writes (issue 20, measured in
 * bench/mqtt5-overhead.ts). mqtt-packet's writeToStream writes a PUBLISH in
 * five pieces (fixed header, length, topic length, topic, payload), six for
 * MQTT 5 (its properties length, after building a properties encoder even for
 * none). With write coalescing every piece is an entry in the connection's
 * corked buffer, so per delivery the pieces, not the syscalls, are the cost,
 * and the MQTT 5 one paid about a fifth more: broker CPU per message in a
 * 20-subscriber fan-out was 1.38x the 3.1.1 figure (bare Aedes, uncoalesced:
 * 0.98x).
 *
 * So the common PUBLISH (string topic, Buffer payload, no properties) is
 * encoded here into one Buffer, byte for byte what mqtt-packet writes
 * [MQTT-3.3.1], [MQTT-3.3.2]: the MQTT 5 form only adds the zero Property
 * Length [MQTT-2.2.2]. A QoS 1/2 one goes as two writes, its first byte
 * being mqtt-packet's own shared header buffer, by which receive-maximum.ts
 * counts in-flight PUBLISH. A payload over COPY_LIMIT goes as a second write rather
 * than be copied. Anything else (properties, a topic alias, a Buffer topic, a
 * QoS > 0 without a Packet Identifier) is left to mqtt-packet, which also
 * reports what is invalid. Aedes' write looks writeToStream up on the module
 * at every write (test/unit/aedes-mqtt5-pins.test.ts pins it).
 */
import { createRequire } from 'node:module'
import mqttPacket from 'mqtt-packet'

type WriteToStream = (packet: unknown, stream: unknown, opts?: unknown) => boolean
interface Mutable { writeToStream: WriteToStream }
interface Writable { write(chunk: Buffer): boolean, cork?(): void, uncork?(): void }
interface PublishLike {
  cmd?: string
  topic?: unknown
  payload?: unknown
  qos?: number
  dup?: boolean
  retain?: boolean
  messageId?: number
  properties?: Record<string, unknown> | null
}

const codec = mqttPacket as unknown as Mutable
/** mqtt-packet's fixed-header buffers by QoS, DUP and RETAIN (the very objects it writes). */
const { PUBLISH_HEADER } = createRequire(import.meta.url)('mqtt-packet/constants.js') as { PUBLISH_HEADER: Buffer[][][] }
/** Payloads up to this size are copied into the packet's buffer; bigger ones are written as they are. */
const COPY_LIMIT = 2048
/** Largest Remaining Length [MQTT-2.2.3]. */
const MAX_REMAINING = 268_435_455

const noProperties = (properties: PublishLike['properties']): boolean => {
  if (properties === undefined || properties === null) return true
  for (const key in properties) if (properties[key] !== undefined && properties[key] !== null) return false
  return true
}

const varIntSize = (n: number): number => n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4

/** The encoded packet, or null when mqtt-packet should write it. Exported for the unit test against mqtt-packet. */
export function encodePublish (p: PublishLike, protocolVersion: number): { head: Buffer, payload: Buffer | null } | null {
  const { topic, payload } = p
  const qos = p.qos ?? 0
  if (typeof topic !== 'string' || !Buffer.isBuffer(payload) || (qos !== 0 && qos !== 1 && qos !== 2) || !noProperties(p.properties)) return null
  if (qos > 0 && typeof p.messageId !== 'number') return null
  const v5 = protocolVersion === 5
  const topicLength = Buffer.byteLength(topic)
  if (topicLength === 0 || topicLength > 0xffff) return null
  const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length
  if (remaining > MAX_REMAINING) return null
  const copy = payload.length <= COPY_LIMIT
  const headSize = 1 + varIntSize(remaining) + remaining - (copy ? 0 : payload.length)
  const head = Buffer.allocUnsafe(headSize)
  let i = 0
  head[i++] = 0x30 | (p.dup === true ? 0x08 : 0) | (qos << 1) | (p.retain === true ? 0x01 : 0)
  let n = remaining
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    head[i++] = byte
  } while (n > 0)
  head.writeUInt16BE(topicLength, i)
  i += 2
  i += head.write(topic, i, 'utf8')
  if (qos > 0) {
    head.writeUInt16BE(p.messageId!, i)
    i += 2
  }
  if (v5) head[i++] = 0
  if (!copy) return { head, payload }
  payload.copy(head, i)
  return { head, payload: null }
}

/** Fixed header byte of each acknowledgement; PUBREL has the reserved bits 0010 [MQTT-3.6.1-1]. */
const ACK_HEADER: Record<string, number> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 }

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP without properties, as mqtt-packet writes
 * it (four pieces, five for MQTT 5 with a Buffer allocated for the reason
 * code): MQTT 5 omits a reason code of 0 [MQTT-3.4.2-1] and otherwise writes
 * it with a zero Property Length (an absent one as 0, as mqtt-packet does).
 */
export function encodeAck (p: PublishLike & { reasonCode?: number }, protocolVersion: number): Buffer | null {
  const header = p.cmd === undefined ? undefined : ACK_HEADER[p.cmd]
  const id = p.messageId
  if (header === undefined || typeof id !== 'number' || id < 0 || id > 0xffff || p.properties !== undefined) return null
  // A PUBREL with DUP is not a thing (mqtt-packet throws on it): left to mqtt-packet.
  if (p.cmd === 'pubrel' && p.dup === true) return null
  const first = header
  if (protocolVersion !== 5 || p.reasonCode === 0) return Buffer.from([first, 2, id >> 8, id & 0xff])
  const code = p.reasonCode ?? 0
  if (typeof code !== 'number' || code < 0 || code > 0xff) return null
  return Buffer.from([first, 4, id >> 8, id & 0xff, code, 0])
}

const uncork = (s: Writable): void => { s.uncork?.() }

let installed = false

/** Install once at start-up, before anything else wraps writeToStream (suback-reasons.ts wraps what it finds). */
export function encodePublishesWhole (): void {
  if (installed) return
  installed = true
  const original = codec.writeToStream
  codec.writeToStream = function wholePublish (packet: unknown, stream: unknown, opts?: unknown): boolean {
    const p = packet as PublishLike
    const version = (opts as { protocolVersion?: number } | undefined)?.protocolVersion ?? 4
    if (p.cmd !== 'publish') {
      const ack = ACK_HEADER[p.cmd ?? ''] === undefined ? null : encodeAck(p, version)
      return ack === null ? original(packet, stream, opts) : (stream as Writable).write(ack)
    }
    const encoded = encodePublish(p, version)
    if (encoded === null) return original(packet, stream, opts)
    const s = stream as Writable
    const qos = p.qos ?? 0
    if (qos === 0 && encoded.payload === null) return s.write(encoded.head)
    // Several pieces leave together, as mqtt-packet corks a packet's pieces until the next tick.
    if (s.cork !== undefined) {
      s.cork()
      process.nextTick(uncork, s)
    }
    let ok: boolean
    if (qos === 0) {
      ok = s.write(encoded.head)
    } else {
      // A QoS 1/2 PUBLISH starts with mqtt-packet's own shared fixed-header buffer, as when
      // mqtt-packet writes it: receive-maximum.ts counts in-flight PUBLISH by that first chunk.
      s.write(PUBLISH_HEADER[qos]![p.dup === true ? 1 : 0]![p.retain === true ? 1 : 0]!)
      ok = s.write(encoded.head.subarray(1))
    }
    return encoded.payload === null ? ok : s.write(encoded.payload)
  }
}
