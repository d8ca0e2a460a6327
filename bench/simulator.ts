/**
 * Simulated devices following the device protocol (docs/device-protocol.md):
 * will at CONNECT `{"state":"offline","ts":0}`, birth after CONNACK,
 * heartbeats at period P with jitter carrying `heartbeat_interval`, telemetry
 * at the heartbeat period, commands acked once per id. Each device can then be
 * made to fail the way real ones do: freeze, drop, vanish, graceful stop, and
 * reconnect (plain or as a takeover).
 */
import { connect, type Socket } from 'node:net'
import { ackPayload, birthPayload, gracefulPayload, heartbeatPayload, telemetryPayload, willPayload } from './device-payloads.js'
import { DISCONNECT, encodeAck, encodeConnect, encodePublish, encodeSubscribe, PacketParser, PINGREQ, type Incoming } from './mqtt-codec.js'

export interface DeviceOptions {
  id: string
  host: string
  port: number
  /** MQTT keepalive, seconds. */
  keepalive: number
  heartbeatMs: number
  /** Fraction of the period: each interval is P * (1 +- jitter). */
  jitter: number
  telemetry: boolean
  fw?: string
  /** Source address (e.g. 127.0.3.7): spreads a large fleet over several loopback port spaces. */
  localAddress?: string
}

export type DeviceMode = 'healthy' | 'frozen' | 'vanished' | 'dropped' | 'stopped'

export class Device {
  mode: DeviceMode = 'healthy'
  boot = 0
  /** Epoch ms of the last application PUBLISH written / last packet of any kind written. */
  lastPublishAt = 0
  lastPacketAt = 0
  /** Epoch ms of the latest CONNACK. */
  connectedAt = 0
  commandsExecuted = 0
  private telemetrySeq = 0
  private socket: Socket | null = null
  private hbTimer: NodeJS.Timeout | null = null
  private pingTimer: NodeJS.Timeout | null = null
  private packetId = 0
  private readonly seenCommands = new Set<string>()
  private readonly startedAt = Date.now()

  constructor (readonly options: DeviceOptions) {}

  get connected (): boolean { return this.socket !== null && !this.socket.destroyed }

  private write (buf: Buffer, app = false): void {
    const s = this.socket
    if (s === null || s.destroyed) return
    s.write(buf)
    const now = Date.now()
    this.lastPacketAt = now
    if (app) this.lastPublishAt = now
  }

  private nextId (): number {
    this.packetId = (this.packetId % 65535) + 1
    return this.packetId
  }

  /** Open a connection and go through CONNECT, birth and the command subscription. Resolves on CONNACK 0. */
  async connect (timeoutMs = 10_000): Promise<void> {
    const { id, host, port, keepalive } = this.options
    const socket = connect({ host, port, noDelay: true, ...(this.options.localAddress !== undefined ? { localAddress: this.options.localAddress } : {}) })
    const parser = new PacketParser()
    this.boot++
    this.telemetrySeq = 0
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${id}: no CONNACK within ${timeoutMs} ms`)) }, timeoutMs)
      socket.once('error', (err) => { clearTimeout(timer); reject(err) })
      socket.on('data', (chunk: Buffer) => {
        try {
          parser.feed(chunk, (p) => {
            if (p.type === 'connack') {
              clearTimeout(timer)
              if (p.returnCode !== 0) { socket.destroy(); reject(new Error(`${id}: CONNACK ${p.returnCode}`)); return }
              resolve()
            } else this.onPacket(socket, p)
          })
        } catch (err) { socket.destroy(); reject(err as Error) }
      })
      socket.once('connect', () => {
        this.socket = socket
        this.write(encodeConnect(id, keepalive, { topic: `devices/${id}/status`, payload: willPayload(), qos: 1, retain: true }))
      })
    })
    socket.on('error', () => {})
    socket.once('close', () => { if (this.socket === socket) { this.socket = null; this.stopTimers() } })
    this.connectedAt = Date.now()
    this.mode = 'healthy'
    this.write(encodePublish(`devices/${id}/status`, birthPayload(Math.floor(Date.now() / 1000), this.options.fw ?? '1.0.0', this.boot), 1, true, this.nextId()), true)
    this.write(encodeSubscribe(this.nextId(), `devices/${id}/commands`, 1))
    this.startHeartbeats(true)
    this.startPings()
  }

  private onPacket (socket: Socket, p: Incoming): void {
    if (p.type !== 'publish') {
      if (p.type === 'pubrec') socket.write(encodeAck(0x62, p.packetId))
      else if (p.type === 'pubrel') socket.write(encodeAck(0x70, p.packetId))
      return
    }
    if (p.qos === 1) socket.write(encodeAck(0x40, p.packetId))
    else if (p.qos === 2) socket.write(encodeAck(0x50, p.packetId))
    // A frozen or vanished app does not execute commands.
    if (this.mode !== 'healthy' || !p.topic.endsWith('/commands')) return
    let cmd: { id?: unknown }
    try { cmd = JSON.parse(p.payload.toString()) as { id?: unknown } } catch { return }
    if (typeof cmd.id !== 'string') return
    // A repeated command id is acked again without executing twice (CONTRACT 8).
    if (!this.seenCommands.has(cmd.id)) { this.seenCommands.add(cmd.id); this.commandsExecuted++ }
    this.write(encodePublish(`devices/${this.options.id}/commands/ack`, ackPayload(cmd.id, true, {}), 1, false, this.nextId()), true)
  }

  private startHeartbeats (randomPhase: boolean): void {
    const { heartbeatMs, jitter, id, telemetry } = this.options
    const next = (first: boolean): number => first && randomPhase
      ? Math.random() * heartbeatMs
      : heartbeatMs * (1 + (Math.random() * 2 - 1) * jitter)
    const beat = (): void => {
      if (this.mode !== 'healthy') return
      const now = Date.now()
      this.write(encodePublish(`devices/${id}/heartbeat`, heartbeatPayload({
        ts: Math.floor(now / 1000), uptime: Math.floor((now - this.startedAt) / 1000),
        heap: 100_000, rssi: -60, interval: heartbeatMs / 1000
      }), 0, false), true)
      if (telemetry) {
        this.write(encodePublish(`devices/${id}/telemetry`, telemetryPayload(Math.floor(now / 1000), ++this.telemetrySeq,
          [{ name: 't', value: 20 + Math.random(), decimals: 2 }], 0), 0, false), true)
      }
      this.hbTimer = setTimeout(beat, next(false))
    }
    this.hbTimer = setTimeout(beat, next(true))
  }

  /** PINGREQ when nothing else went out for half the keepalive, as MQTT clients do [MQTT-3.1.2-23]. */
  private startPings (): void {
    const ka = this.options.keepalive * 1000
    this.pingTimer = setInterval(() => {
      if (this.mode === 'vanished') return
      if (Date.now() - this.lastPacketAt >= ka / 2) this.write(PINGREQ)
    }, Math.max(250, ka / 4))
  }

  private stopTimers (): void {
    if (this.hbTimer !== null) clearTimeout(this.hbTimer)
    if (this.pingTimer !== null) clearInterval(this.pingTimer)
    this.hbTimer = null
    this.pingTimer = null
  }

  /** The app hangs, the network stack keeps pinging. Returns the true fault time (last application publish). */
  freeze (): number {
    this.mode = 'frozen'
    if (this.hbTimer !== null) clearTimeout(this.hbTimer)
    this.hbTimer = null
    return this.lastPublishAt
  }

  /** The socket dies without DISCONNECT. Returns the fault time. */
  drop (): number {
    this.mode = 'dropped'
    this.stopTimers()
    const now = Date.now()
    this.socket?.destroy()
    return now
  }

  /** Power loss behind a NAT: nothing more is sent, the socket is never closed; keepalive must expire. Returns the last packet time. */
  vanish (): number {
    this.mode = 'vanished'
    this.stopTimers()
    return this.lastPacketAt
  }

  /** CONTRACT 8 graceful stop: offline status retained, then DISCONNECT. Returns the fault time. */
  graceful (): number {
    this.mode = 'stopped'
    this.stopTimers()
    const now = Date.now()
    this.write(encodePublish(`devices/${this.options.id}/status`, gracefulPayload(), 1, true, this.nextId()), true)
    this.write(DISCONNECT)
    this.socket?.end()
    return now
  }

  /** Reconnect: `takeover` opens the new connection while the old one is still open; otherwise the old socket is destroyed first. */
  async reconnect (takeover: boolean): Promise<void> {
    const old = this.socket
    this.stopTimers()
    if (!takeover) old?.destroy()
    this.socket = null
    await this.connect()
    // After a takeover the broker closes the old connection; make sure ours is gone too.
    if (takeover) setTimeout(() => old?.destroy(), 1000).unref()
  }

  /** Harness teardown: no DISCONNECT, just close. */
  close (): void {
    this.mode = 'stopped'
    this.stopTimers()
    this.socket?.destroy()
    this.socket = null
  }
}

/** Connect `devices` with at most `parallelism` CONNECTs in flight. */
export async function connectAll (devices: Device[], parallelism: number, onProgress?: (done: number) => void): Promise<void> {
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const d = devices[next++]!
      await d.connect()
      done++
      if (onProgress !== undefined && done % 200 === 0) onProgress(done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallelism, devices.length) }, worker))
}
