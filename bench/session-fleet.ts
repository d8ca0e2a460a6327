/**
 * Raw-socket devices with persistent sessions, for node loss at scale and the
 * `scale` scenario: each device connects (clean or not, with a will), keeps one
 * QoS 1 subscription on its inbox, heartbeats on a schedule (or only PINGREQs
 * once frozen), and records what reaches its inbox. Raw sockets and one shared
 * ticker keep 15,000 of them cheap in one process, so the broker is what is
 * measured. Runs inside bench/session-fleet-process.ts (a child process).
 */
import { connect as netConnect, type Socket } from 'node:net'
import { encodeAck, encodeConnect, encodePublish, encodeSubscribe, PacketParser, PINGREQ } from './mqtt-codec.js'

export const inboxTopic = (id: string): string => `devices/${id}/inbox`
export const willTopic = (id: string): string => `devices/${id}/status`
export const heartbeatTopic = (id: string): string => `devices/${id}/heartbeat`
export const FLEET_WILL = '{"state":"offline","ts":0,"x":1}'

export interface ConnectSpec {
  host: string
  /** Ports to spread the devices over, round-robin by index. */
  ports: number[]
  /** Source addresses (127.0.0.x) to spread over: one address has ~28,000 ephemeral ports to one destination. */
  localAddresses?: string[]
  clean: boolean
  keepalive: number
  will: boolean
  /** Subscribe to the inbox at QoS 1 (only when the CONNACK says there is no session). */
  subscribe: boolean
  /** Application heartbeat period (ms); 0 = none (PINGREQs only). */
  heartbeatMs: number
  parallelism: number
  connackTimeoutMs?: number
}

interface Device {
  readonly id: string
  socket: Socket | null
  frozen: boolean
  killed: boolean
  sessionPresent: boolean | null
  /** Inbox sequence numbers in arrival order (duplicates kept). */
  inbox: number[]
  lastSent: number
  nextBeat: number
  packetId: number
}

export interface ConnectResult { connected: number, failed: number, sessionPresent: number, errors: string[], elapsedMs: number, connackMs: number[] }
export interface InboxReport { devices: number, expected: number, received: number, duplicates: number, missing: number, complete: number, missingSample: string[] }

export class SessionFleet {
  readonly devices: Device[]
  #spec: ConnectSpec | null = null
  #ticker: NodeJS.Timeout | null = null
  closedByBroker = 0

  constructor (prefix: string, from: number, count: number) {
    this.devices = Array.from({ length: count }, (_v, i) => ({
      id: `${prefix}${from + i}`, socket: null, frozen: false, killed: false, sessionPresent: null, inbox: [], lastSent: 0, nextBeat: 0, packetId: 1
    }))
  }

  /** Connect every device without a socket (all of them at first; the ones a lost node dropped later). */
  async connect (spec: ConnectSpec, which: 'all' | 'closed' = 'all'): Promise<ConnectResult> {
    this.#spec = spec
    const todo = this.devices.map((d, i) => ({ d, i })).filter(({ d }) => which === 'all' || (d.socket === null && !d.killed))
    const errors: string[] = []
    const connackMs: number[] = []
    let connected = 0
    let failed = 0
    let sessionPresent = 0
    let next = 0
    const started = Date.now()
    // Heartbeats start with the first CONNACK, not after the last: a long connect phase must not freeze the early ones.
    this.#startTicker()
    await Promise.all(Array.from({ length: Math.min(spec.parallelism, todo.length) }, async () => {
      while (next < todo.length) {
        const { d, i } = todo[next++]!
        const t0 = Date.now()
        try {
          const present = await this.#connectOne(d, i, spec)
          connackMs.push(Date.now() - t0)
          connected++
          if (present) sessionPresent++
        } catch (err) {
          failed++
          if (errors.length < 5) errors.push((err as Error).message)
        }
      }
    }))
    return { connected, failed, sessionPresent, errors, elapsedMs: Date.now() - started, connackMs }
  }

  #connectOne (d: Device, index: number, spec: ConnectSpec): Promise<boolean> {
    const port = spec.ports[index % spec.ports.length]!
    const localAddress = spec.localAddresses !== undefined && spec.localAddresses.length > 0
      ? spec.localAddresses[index % spec.localAddresses.length] : undefined
    const socket = netConnect({ host: spec.host, port, noDelay: true, ...(localAddress !== undefined ? { localAddress } : {}) })
    const parser = new PacketParser()
    return new Promise<boolean>((resolve, reject) => {
      let state: 'connecting' | 'subscribing' | 'up' = 'connecting'
      const fail = (why: string): void => {
        if (state === 'up') return
        clearTimeout(timer)
        socket.destroy()
        reject(new Error(`${d.id}: ${why}`))
      }
      const timer = setTimeout(() => fail(`no CONNACK/SUBACK within ${spec.connackTimeoutMs ?? 30_000} ms`), spec.connackTimeoutMs ?? 30_000)
      const up = (present: boolean): void => {
        state = 'up'
        clearTimeout(timer)
        d.socket = socket
        d.lastSent = Date.now()
        d.nextBeat = Date.now() + Math.random() * Math.max(1, spec.heartbeatMs)
        resolve(present)
      }
      socket.on('error', (err) => fail(err.message))
      socket.on('close', () => {
        if (state !== 'up') { fail('closed before CONNACK'); return }
        if (d.socket === socket) {
          d.socket = null
          if (!d.killed) this.closedByBroker++
        }
      })
      socket.on('data', (chunk: Buffer) => parser.feed(chunk, (p) => {
        if (p.type === 'connack') {
          if (p.returnCode !== 0) { fail(`CONNACK ${p.returnCode}`); return }
          d.sessionPresent = p.sessionPresent
          if (spec.subscribe && !p.sessionPresent) {
            state = 'subscribing'
            socket.write(encodeSubscribe(1, inboxTopic(d.id), 1))
          } else up(p.sessionPresent)
        } else if (p.type === 'suback' && state === 'subscribing') {
          up(false)
        } else if (p.type === 'publish') {
          if (p.qos === 1) socket.write(encodeAck(0x40, p.packetId))
          if (p.topic === inboxTopic(d.id)) d.inbox.push(Number(p.payload.toString()))
        }
      }))
      socket.once('connect', () => socket.write(encodeConnect(d.id, spec.keepalive,
        spec.will ? { topic: willTopic(d.id), payload: FLEET_WILL, qos: 1, retain: true } : null, spec.clean)))
    })
  }

  /** One ticker for the whole fleet: heartbeats when due, PINGREQ at half the keep-alive for the frozen. */
  #startTicker (): void {
    if (this.#ticker !== null) return
    this.#ticker = setInterval(() => {
      const spec = this.#spec
      if (spec === null) return
      const now = Date.now()
      const pingEvery = spec.keepalive * 500
      for (const d of this.devices) {
        const s = d.socket
        if (s === null) continue
        if (!d.frozen && spec.heartbeatMs > 0 && now >= d.nextBeat) {
          d.nextBeat = now + spec.heartbeatMs
          d.lastSent = now
          s.write(encodePublish(heartbeatTopic(d.id), '{"hb":1}', 0, false))
        } else if (pingEvery > 0 && now - d.lastSent >= pingEvery) {
          d.lastSent = now
          s.write(PINGREQ)
        }
      }
    }, 250)
  }

  /** Devices [from, from + count) of this fleet stop heartbeating and keep only PINGREQs (their app hangs, the socket lives). */
  freeze (from: number, count: number): void {
    for (const d of this.devices.slice(from, from + count)) d.frozen = true
  }

  /** Devices [from, from + count) lose power: the socket is destroyed without DISCONNECT. */
  kill (from: number, count: number): void {
    for (const d of this.devices.slice(from, from + count)) {
      d.killed = true
      d.socket?.destroy()
      d.socket = null
    }
  }

  open (): number { return this.devices.filter((d) => d.socket !== null).length }

  /** Compare every device's inbox with 1..expected (devices that were killed are left out). */
  inbox (expected: number): InboxReport {
    let received = 0
    let duplicates = 0
    let missing = 0
    let complete = 0
    const missingSample: string[] = []
    const live = this.devices.filter((d) => !d.killed)
    for (const d of live) {
      received += d.inbox.length
      const seen = new Set(d.inbox)
      duplicates += d.inbox.length - seen.size
      let lacking = 0
      for (let s = 1; s <= expected; s++) if (!seen.has(s)) lacking++
      missing += lacking
      if (lacking === 0) complete++
      else if (missingSample.length < 5) missingSample.push(`${d.id}: ${lacking} of ${expected} missing (got ${d.inbox.join(',')})`)
    }
    return { devices: live.length, expected, received, duplicates, missing, complete, missingSample }
  }

  stop (): void {
    if (this.#ticker !== null) clearInterval(this.#ticker)
    for (const d of this.devices) d.socket?.destroy()
  }
}
