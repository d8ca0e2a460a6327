/**
 * MQTT 3.1.1 packets written byte by byte, for tests that send what no client
 * library would (ill-formed UTF-8, bad flags, bad filters), and a raw session
 * that reads the broker's answers packet by packet.
 */
import type { Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { rawSocket } from '../helpers/clients.js'
import type { Teardown } from './teardown.js'

type Text = string | Buffer

const bytes = (text: Text): Buffer => typeof text === 'string' ? Buffer.from(text, 'utf8') : text

/** A length-prefixed string [MQTT-1.5.3]: the bytes as given, valid or not. */
export function str (text: Text): Buffer {
  const body = bytes(text)
  const out = Buffer.alloc(2 + body.length)
  out.writeUInt16BE(body.length, 0)
  body.copy(out, 2)
  return out
}

/** A Variable Byte Integer [MQTT-1.5.5] (the Remaining Length, an MQTT 5 property length). */
export function remainingLength (n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

export function packet (firstByte: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body])
}

export interface ConnectFields {
  protocol?: Text
  level?: number
  clean?: boolean
  keepalive?: number
  clientId?: Text
  username?: Text
  password?: Text
  /** Set the password flag without a username (or any flags byte at all). */
  flags?: number
  will?: { topic: Text, payload?: Text, qos?: 0 | 1 | 2, retain?: boolean }
}

export function connect (f: ConnectFields = {}): Buffer {
  let flags = 0
  if (f.clean ?? true) flags |= 0x02
  if (f.will !== undefined) flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain === true ? 0x20 : 0)
  if (f.username !== undefined) flags |= 0x80
  if (f.password !== undefined) flags |= 0x40
  if (f.flags !== undefined) flags = f.flags
  const keepalive = Buffer.alloc(2)
  keepalive.writeUInt16BE(f.keepalive ?? 30, 0)
  const parts = [str(f.protocol ?? 'MQTT'), Buffer.from([f.level ?? 4, flags]), keepalive, str(f.clientId ?? '')]
  if (f.will !== undefined) parts.push(str(f.will.topic), str(f.will.payload ?? ''))
  if (f.username !== undefined) parts.push(str(f.username))
  if (f.password !== undefined) parts.push(str(f.password))
  return packet(0x10, ...parts)
}

const id = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff])

export function subscribe (messageId: number, ...filters: Array<[Text, 0 | 1 | 2]>): Buffer {
  return packet(0x82, id(messageId), ...filters.flatMap(([filter, qos]) => [str(filter), Buffer.from([qos])]))
}

export function unsubscribe (messageId: number, ...filters: Text[]): Buffer {
  return packet(0xa2, id(messageId), ...filters.map(str))
}

export function publish (topic: Text, payload: Text, o: { qos?: 0 | 1, retain?: boolean, messageId?: number } = {}): Buffer {
  const qos = o.qos ?? 0
  const first = 0x30 | (qos << 1) | (o.retain === true ? 1 : 0)
  return packet(first, str(topic), ...(qos > 0 ? [id(o.messageId ?? 1)] : []), bytes(payload))
}

export const puback = (messageId: number): Buffer => packet(0x40, id(messageId))
export const PINGREQ = Buffer.from([0xc0, 0x00])
export const DISCONNECT = Buffer.from([0xe0, 0x00])

export const hex = (buf: Buffer): string => buf.toString('hex').replace(/(..)/g, '$1 ').trim()

export interface Incoming { cmd: string, returnCode?: number, sessionPresent?: boolean, topic?: string,
  payload?: Buffer, retain?: boolean, qos?: number, messageId?: number, granted?: number[] }

/** A raw TCP connection that parses what the broker sends. */
export class RawSession {
  readonly socket: Socket
  readonly received: Incoming[] = []
  readonly sent: Buffer[] = []
  readonly bytesIn: Buffer[] = []
  #waiters: Array<() => void> = []
  #closed: Promise<void>
  isClosed = false

  private constructor (socket: Socket) {
    this.socket = socket
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p) => { this.received.push(p as unknown as Incoming); this.#wake() })
    socket.on('data', (chunk: Buffer) => { this.bytesIn.push(chunk); parser.parse(chunk) })
    this.#closed = new Promise((resolve) => socket.once('close', () => { this.isClosed = true; this.#wake(); resolve() }))
  }

  static async open (t: Teardown, port: number): Promise<RawSession> {
    return new RawSession(await rawSocket(t, port))
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  send (...buffers: Buffer[]): this {
    for (const b of buffers) { this.sent.push(b); if (!this.socket.destroyed) this.socket.write(b) }
    return this
  }

  /** Wait for the first received packet matching `cmd` (from index `from`), or null if the connection closes first. */
  async next (cmd: string, from = 0, timeoutMs = 5000): Promise<Incoming | null> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.received.slice(from).find((p) => p.cmd === cmd)
      if (found !== undefined) return found
      if (this.isClosed) return null
      if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms (got ${this.received.map((p) => p.cmd).join(', ')})`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  closed (timeoutMs = 5000): Promise<boolean> {
    return Promise.race([this.#closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())])
  }

  /**
   * What the broker made of everything sent so far: the barrier is a PINGREQ
   * sent after it. `open` means the PINGRESP came back (so every packet before
   * was handled and the connection lives); otherwise it closed.
   */
  async outcome (): Promise<{ open: boolean, received: Incoming[] }> {
    const from = this.received.length
    this.send(PINGREQ)
    const pong = await this.next('pingresp', from)
    return { open: pong !== null, received: this.received.filter((p) => p.cmd !== 'pingresp') }
  }

  bytesReceived (): Buffer { return Buffer.concat(this.bytesIn) }
}

export interface RawConnectOptions {
  clientId: string
  /** Seconds; 0 (the default) turns keep-alive off [MQTT-3.1.2-10]. */
  keepalive?: number
  will?: ConnectFields['will']
}

/**
 * A raw TCP connection that has sent a clean-session CONNECT and got CONNACK 0,
 * for what mqtt.js will not do (stop sending, send garbage). `sentAt` is when
 * the CONNECT was written. The socket has no data listener left afterwards.
 */
export async function rawConnect (t: Teardown, port: number, o: RawConnectOptions): Promise<{ socket: Socket, sentAt: number }> {
  const socket = await rawSocket(t, port)
  const connack = new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      if (got.length < 4) return
      socket.off('data', onData)
      resolve(got)
    }
    socket.on('data', onData)
  })
  const sentAt = Date.now()
  socket.write(connect({ clientId: o.clientId, keepalive: o.keepalive ?? 0, clean: true, ...(o.will !== undefined ? { will: o.will } : {}) }))
  const reply = await connack
  // CONNACK: 0x20, remaining length 2, flags, return code 0 [MQTT-3.2.2-3]
  if (reply[0] !== 0x20 || reply[3] !== 0) throw new Error(`CONNACK refused: ${reply.toString('hex')}`)
  return { socket, sentAt }
}
