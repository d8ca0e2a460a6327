/**
 * A raw MQTT 5 connection for tests that must see the broker's bytes as they
 * are: packets are sent with mqtt-packet's generate (which writes a
 * userProperties array in array order), and what comes back is split and
 * read here by hand, not by mqtt-packet (whose parser the broker under test
 * patches in the same process). Reads what the tests need: the packet type,
 * a PUBLISH's topic, retain flag, packet identifier, payload and User
 * Properties in wire order, a DISCONNECT's reason code.
 */
import type { Socket } from 'node:net'
import { createRequire } from 'node:module'
import { rawSocket } from '../helpers/clients.js'
import { waitFor } from './wait.js'
import type { Teardown } from './teardown.js'

const generate = createRequire(import.meta.url)('mqtt-packet/generate.js') as (packet: unknown, opts: { protocolVersion: number }) => Buffer

export interface RawPacket {
  type: number
  flags: number
  body: Buffer
}

export const PUBLISH = 3
export const PUBACK = 4
export const PUBREC = 5
export const SUBACK = 9
export const DISCONNECT = 14

export interface ReadPublish { topic: string, retain: boolean, qos: number, messageId: number | undefined, payload: string, userProperties: string[] }

function varInt (buf: Buffer, at: number): { value: number, next: number } | null {
  let value = 0
  let mult = 1
  for (let i = at; i < buf.length && i < at + 4; i++) {
    value += (buf[i]! & 0x7f) * mult
    if ((buf[i]! & 0x80) === 0) return { value, next: i + 1 }
    mult *= 128
  }
  return null
}

/** Bytes of each property type [MQTT-2.2.2.2], for walking past the ones a test does not read. */
const FIXED: Record<number, number> = { 0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x18: 4, 0x19: 1, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2a: 1 }
const STRING = new Set([0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f])

/** A PUBLISH's fields, User Properties in the order they are on the wire. */
export function readPublish (p: RawPacket): ReadPublish {
  const b = p.body
  let i = 0
  const str = (): string => { const n = b.readUInt16BE(i); i += 2; const s = b.subarray(i, i + n).toString('utf8'); i += n; return s }
  const qos = (p.flags >> 1) & 3
  const topic = str()
  let messageId: number | undefined
  if (qos > 0) { messageId = b.readUInt16BE(i); i += 2 }
  const len = varInt(b, i)!
  i = len.next
  const end = i + len.value
  const userProperties: string[] = []
  while (i < end) {
    const id = b[i++]!
    if (id === 0x26) userProperties.push(str(), str())
    else if (id === 0x0b) i = varInt(b, i)!.next
    else if (STRING.has(id)) str()
    else if (FIXED[id] !== undefined) i += FIXED[id]!
    else throw new Error(`property 0x${id.toString(16)} not read here`)
  }
  return { topic, retain: (p.flags & 1) === 1, qos, messageId, payload: b.subarray(end).toString('utf8'), userProperties }
}

export class RawSession5 {
  readonly packets: RawPacket[] = []
  closed = false
  #buf: Buffer = Buffer.alloc(0)

  constructor (readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.#take(d))
    socket.on('close', () => { this.closed = true })
  }

  #take (d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d])
    for (;;) {
      if (this.#buf.length < 2) return
      const len = varInt(this.#buf, 1)
      if (len === null) return
      const total = len.next + len.value
      if (this.#buf.length < total) return
      const first = this.#buf[0]!
      this.packets.push({ type: first >> 4, flags: first & 0x0f, body: this.#buf.subarray(len.next, total) })
      this.#buf = this.#buf.subarray(total)
    }
  }

  send (packet: object): void {
    this.socket.write(generate(packet, { protocolVersion: 5 }))
  }

  publishes (): ReadPublish[] {
    return this.packets.filter((p) => p.type === PUBLISH).map(readPublish)
  }

  async subscribe (filter: string, qos: 0 | 1 | 2 = 1, messageId = 1): Promise<void> {
    const before = this.packets.filter((p) => p.type === SUBACK).length
    this.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] })
    await waitFor(() => this.packets.filter((p) => p.type === SUBACK).length > before, 10_000, `SUBACK for ${filter}`)
  }

  /** Acknowledge every QoS 1 PUBLISH received so far (a persistent session keeps unacknowledged ones). */
  ackAll (): void {
    for (const p of this.publishes()) if (p.qos === 1 && p.messageId !== undefined) this.send({ cmd: 'puback', messageId: p.messageId })
  }
}

/** Connect an MQTT 5 client over a raw socket and wait for its CONNACK (which must accept it). */
export async function rawConnect5 (t: Teardown, port: number, clientId: string, o: { clean?: boolean, sessionExpiryInterval?: number, will?: object } = {}): Promise<RawSession5> {
  const s = new RawSession5(await rawSocket(t, port))
  s.send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60, clean: o.clean ?? true, clientId,
    ...(o.sessionExpiryInterval !== undefined ? { properties: { sessionExpiryInterval: o.sessionExpiryInterval } } : {}),
    ...(o.will !== undefined ? { will: o.will } : {})
  })
  const connack = await waitFor(() => s.packets.find((p) => p.type === 2), 10_000, `CONNACK for ${clientId}`)
  if (connack.body[1] !== 0) throw new Error(`${clientId} refused: reason 0x${connack.body[1]!.toString(16)}`)
  return s
}
