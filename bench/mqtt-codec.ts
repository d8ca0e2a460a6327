/**
 * A minimal MQTT 3.1.1 client codec for simulated devices. The simulator needs
 * control mqtt.js does not give (keep pinging while the app is frozen, go
 * completely quiet without closing the socket) and must stay cheap with
 * thousands of devices on a 2-core machine. Only what a device uses is here.
 */

function remainingLength (n: number): Buffer {
  const bytes: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    bytes.push(byte)
  } while (n > 0)
  return Buffer.from(bytes)
}

function str (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  const len = Buffer.allocUnsafe(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

function packet (first: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body)
  return Buffer.concat([Buffer.from([first]), remainingLength(payload.length), payload])
}

export interface Will { topic: string, payload: Buffer | string, qos: 0 | 1 | 2, retain: boolean }

export function encodeConnect (clientId: string, keepalive: number, will: Will | null, clean = true): Buffer {
  // [MQTT-3.1.2-*] connect flags: bit1 clean session, bit2 will flag, bits3-4 will QoS, bit5 will retain
  let flags = clean ? 0x02 : 0
  if (will !== null) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
  const header = Buffer.concat([str('MQTT'), Buffer.from([4, flags, keepalive >> 8, keepalive & 0xff])])
  const body = [header, str(clientId)]
  if (will !== null) body.push(str(will.topic), str(typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload))
  return packet(0x10, body)
}

export function encodePublish (topic: string, payload: Buffer | string, qos: 0 | 1 | 2, retain: boolean, packetId = 0): Buffer {
  const body = [str(topic)]
  if (qos > 0) body.push(Buffer.from([packetId >> 8, packetId & 0xff]))
  body.push(typeof payload === 'string' ? Buffer.from(payload) : payload)
  return packet(0x30 | (qos << 1) | (retain ? 1 : 0), body)
}

export function encodeSubscribe (packetId: number, topic: string, qos: 0 | 1 | 2): Buffer {
  return packet(0x82, [Buffer.from([packetId >> 8, packetId & 0xff]), str(topic), Buffer.from([qos])])
}

/** PUBACK 0x40, PUBREC 0x50, PUBREL 0x62 [MQTT-3.6.1-1], PUBCOMP 0x70. */
export function encodeAck (first: 0x40 | 0x50 | 0x62 | 0x70, packetId: number): Buffer {
  return Buffer.from([first, 2, packetId >> 8, packetId & 0xff])
}

export const PINGREQ = Buffer.from([0xc0, 0])
export const DISCONNECT = Buffer.from([0xe0, 0])

export type Incoming =
  | { type: 'connack', returnCode: number, sessionPresent: boolean }
  | { type: 'publish', topic: string, payload: Buffer, qos: number, packetId: number, retain: boolean }
  | { type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'suback' | 'unsuback', packetId: number }
  | { type: 'pingresp' }

const ACKS: Record<number, 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'suback' | 'unsuback'> = {
  4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp', 9: 'suback', 11: 'unsuback'
}

/** Incremental parser: feed socket chunks, get whole packets. */
export class PacketParser {
  private buf: Buffer = Buffer.alloc(0)

  feed (chunk: Buffer, onPacket: (p: Incoming) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    for (;;) {
      if (this.buf.length < 2) return
      let len = 0
      let mult = 1
      let i = 1
      for (;;) {
        if (i >= this.buf.length) return
        const byte = this.buf[i]!
        len += (byte & 0x7f) * mult
        mult *= 128
        i++
        if ((byte & 0x80) === 0) break
        if (i > 4) throw new Error('malformed remaining length')
      }
      if (this.buf.length < i + len) return
      const first = this.buf[0]!
      const body = this.buf.subarray(i, i + len)
      this.buf = this.buf.subarray(i + len)
      const type = first >> 4
      // [MQTT-3.2.2-1..3] bit 0 of the acknowledge flags: Session Present
      if (type === 2) onPacket({ type: 'connack', returnCode: body[1] ?? 255, sessionPresent: ((body[0] ?? 0) & 1) === 1 })
      else if (type === 3) {
        const qos = (first >> 1) & 3
        const tlen = body.readUInt16BE(0)
        const topic = body.toString('utf8', 2, 2 + tlen)
        let off = 2 + tlen
        let packetId = 0
        if (qos > 0) { packetId = body.readUInt16BE(off); off += 2 }
        onPacket({ type: 'publish', topic, payload: Buffer.from(body.subarray(off)), qos, packetId, retain: (first & 1) === 1 })
      } else if (type === 13) onPacket({ type: 'pingresp' })
      else if (ACKS[type] !== undefined) onPacket({ type: ACKS[type]!, packetId: body.readUInt16BE(0) })
    }
  }
}
