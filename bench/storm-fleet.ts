/**
 * A fleet of raw-socket devices for reconnect storms (issue 11), shared by the
 * `storm` bench scenario and its integration test: each device connects with a
 * will on `devices/<id>/status` (QoS 1, retained). Raw sockets keep thousands of
 * them cheap on the harness side, so the broker is what gets measured.
 */
import { connect as netConnect, type Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import { encodeConnect, encodePublish, PacketParser } from './mqtt-codec.js'
import { nowMs } from './scenarios/common.js'

export interface StormDevice { readonly id: string, socket: Socket | null }

export const willTopic = (id: string): string => `devices/${id}/status`
export const WILL_PAYLOAD = '{"state":"offline","ts":0}'

/** The device's birth (right after CONNACK): retained `online` carrying which connection it is. */
export const birthPayload = (boot: number): string => `{"state":"online","ts":0,"fw":"1.0.0","boot":${boot}}`

/**
 * One CONNECT with the device's will; resolves with the socket and the CONNACK
 * latency (ms). With `boot` set, the birth goes out right after CONNACK (QoS 1;
 * its PUBACK is not awaited).
 */
export async function connectDevice (host: string, port: number, id: string, keepalive: number,
  boot: number | null = null, timeoutMs = 30_000): Promise<{ socket: Socket, ms: number }> {
  const t0 = nowMs()
  const socket = netConnect({ host, port, noDelay: true })
  const parser = new PacketParser()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${id}: no CONNACK in ${timeoutMs} ms`)) }, timeoutMs)
    socket.once('error', (err) => { clearTimeout(timer); reject(err) })
    socket.once('close', () => { clearTimeout(timer); reject(new Error(`${id}: closed before CONNACK`)) })
    socket.on('data', (chunk: Buffer) => parser.feed(chunk, (p) => {
      if (p.type !== 'connack') return
      clearTimeout(timer)
      if (p.returnCode === 0) resolve()
      else reject(new Error(`${id}: CONNACK ${p.returnCode}`))
    }))
    socket.once('connect', () => socket.write(encodeConnect(id, keepalive,
      { topic: willTopic(id), payload: WILL_PAYLOAD, qos: 1, retain: true })))
  })
  const ms = nowMs() - t0
  socket.removeAllListeners('close')
  socket.on('error', () => {})
  if (boot !== null) socket.write(encodePublish(willTopic(id), birthPayload(boot), 1, true, 1))
  return { socket, ms }
}

export interface RoundResult {
  /** CONNACK latency of each reconnect (ms), in completion order. */
  latencies: number[]
  failed: number
  /** First reconnect sent to last CONNACK (ms). */
  elapsedMs: number
}

export class StormFleet {
  readonly devices: StormDevice[]
  readonly #host: string
  readonly #port: number
  readonly #keepalive: number
  readonly #birth: boolean
  /** Rounds so far: the boot number of the latest birth. */
  #boot = 0

  /**
   * `birth`: each device publishes its birth after CONNACK (the device protocol).
   * The storm had none: then the broker's own `$SYS/<node>/new/clients`
   * messages, whose subscribers all answer synchronously, queue back to back.
   */
  constructor (url: string, ids: string[], options: { keepalive: number, birth: boolean }) {
    const u = new URL(url)
    this.#host = u.hostname
    this.#port = Number(u.port || 1883)
    this.#keepalive = options.keepalive
    this.#birth = options.birth
    this.devices = ids.map((id) => ({ id, socket: null }))
  }

  /**
   * Every device (re)connects at once. `mode`:
   * - 'storm': every socket is destroyed first, then all CONNECTs go out;
   * - 'takeover': the new CONNECTs go out while the old sockets are open; the old
   *   sockets all die `close.afterMs` later (the race: 50 ms), or once
   *   `close.afterConnacks` reconnects have their CONNACK (the same race, at the
   *   same point of the broker's work however fast this harness is); with
   *   neither, each old socket dies once its own reconnect has its CONNACK (the
   *   broker surely took it over first).
   */
  async round (mode: 'storm' | 'takeover', close: { afterMs?: number, afterConnacks?: number } = {}): Promise<RoundResult> {
    const old: Array<Socket | null> = this.devices.map((d) => d.socket)
    if (mode === 'storm') for (const s of old) s?.destroy()
    const race = mode === 'takeover' && (close.afterMs !== undefined || close.afterConnacks !== undefined)
    const killOld = (): void => { for (let i = 0; i < old.length; i++) { old[i]?.destroy(); old[i] = null } }
    const latencies: number[] = []
    let failed = 0
    const boot = ++this.#boot
    const started = nowMs()
    const timer = race && close.afterMs !== undefined ? setTimeout(killOld, close.afterMs) : null
    await Promise.all(this.devices.map(async (d, i) => {
      try {
        const r = await connectDevice(this.#host, this.#port, d.id, this.#keepalive, this.#birth ? boot : null)
        d.socket = r.socket
        latencies.push(r.ms)
        if (race && latencies.length === close.afterConnacks) killOld()
      } catch {
        d.socket = null
        failed++
      } finally {
        if (mode === 'takeover' && !race) { old[i]?.destroy(); old[i] = null }
      }
    }))
    if (timer !== null) {
      // Keep the race's shape even when every CONNACK beat the timer.
      const left = close.afterMs! - (nowMs() - started)
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left + 1))
      clearTimeout(timer)
    }
    killOld()
    return { latencies, failed, elapsedMs: nowMs() - started }
  }

  /**
   * Connect the devices that have no socket (a first CONNECT the loopback listen
   * backlog refused under a burst), with this round's boot; returns how many still fail.
   */
  async connectMissing (): Promise<number> {
    let failed = 0
    await Promise.all(this.devices.filter((d) => d.socket === null).map(async (d) => {
      try {
        d.socket = (await connectDevice(this.#host, this.#port, d.id, this.#keepalive, this.#birth ? this.#boot : null)).socket
      } catch { failed++ }
    }))
    return failed
  }

  /** The boot number of the latest round (the birth every device should show). */
  get boot (): number { return this.#boot }

  /** Destroy every socket (no DISCONNECT: each will is due). */
  closeAll (): void {
    for (const d of this.devices) { d.socket?.destroy(); d.socket = null }
  }
}

export interface Seen {
  /** Receive time (ms, nowMs()). */
  at: number
  state: string
  /** The birth's boot number (devices/<id>/status). */
  boot?: number
  /** $liveness/<id>: the connection's epoch and the offline reason. */
  epoch?: number
  reason?: string | null
  /** A will's stamped `ts` (0 when unstamped). */
  ts?: number
}

export interface DeviceLog { status: Seen[], live: Seen[] }

/**
 * Everything the fleet's topics carry, per device, as an observer sees it: the
 * device topic (births and wills) and, where the broker has it, `$liveness`.
 */
export class StormWatcher {
  readonly logs = new Map<string, DeviceLog>()
  /** Messages that were not JSON objects or not from a device of the fleet. */
  unparsed = 0

  constructor (readonly client: MqttClient, ids: string[]) {
    for (const id of ids) this.logs.set(id, { status: [], live: [] })
    client.on('message', (topic, payload) => {
      const slash = topic.indexOf('/')
      const root = topic.slice(0, slash)
      const id = root === '$liveness' ? topic.slice(slash + 1) : topic.slice(slash + 1, topic.lastIndexOf('/'))
      const log = this.logs.get(id)
      let m: Record<string, unknown>
      try { m = JSON.parse(payload.toString()) as Record<string, unknown> } catch { m = {} }
      if (log === undefined || typeof m.state !== 'string') { this.unparsed++; return }
      const seen: Seen = { at: nowMs(), state: m.state }
      if (typeof m.boot === 'number') seen.boot = m.boot
      if (typeof m.epoch === 'number') seen.epoch = m.epoch
      if (typeof m.reason === 'string' || m.reason === null) seen.reason = m.reason as string | null
      if (typeof m.ts === 'number') seen.ts = m.ts
      if (root === '$liveness') log.live.push(seen)
      else log.status.push(seen)
    })
  }

  static async subscribe (client: MqttClient, ids: string[], liveness: boolean): Promise<StormWatcher> {
    const watcher = new StormWatcher(client, ids)
    const filters: Record<string, { qos: 1 }> = { 'devices/+/status': { qos: 1 } }
    if (liveness) filters['$liveness/+'] = { qos: 1 }
    await client.subscribeAsync(filters)
    return watcher
  }

  /**
   * Devices not (yet) settled after a round: (`boot` given) the device topic's
   * latest message is not this boot's birth, or (liveness) the latest status is
   * not `online` with an epoch above `epochAbove`.
   */
  unsettled (boot: number | null, liveness: boolean, epochAbove: Map<string, number>): string[] {
    const out: string[] = []
    for (const [id, log] of this.logs) {
      const s = log.status.at(-1)
      const l = log.live.at(-1)
      const ok = (boot === null || (s !== undefined && s.state === 'online' && s.boot === boot)) &&
        (!liveness || (l !== undefined && l.state === 'online' && (l.epoch ?? 0) > (epochAbove.get(id) ?? 0)))
      if (!ok) out.push(id)
    }
    return out
  }

  /** Each device's latest `$liveness` epoch (0 when none yet). */
  epochs (): Map<string, number> {
    const out = new Map<string, number>()
    for (const [id, log] of this.logs) out.set(id, log.live.at(-1)?.epoch ?? 0)
    return out
  }
}
