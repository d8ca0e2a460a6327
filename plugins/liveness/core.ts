/**
 * The liveness state machine (docs/topics-and-payloads.md, issue 3), one `Conn` per
 * accepted connection. Pure: no Aedes, no Redis, no clock; every call takes
 * `now` and returns the transitions the adapter publishes.
 *
 *   CONNECT -> online --(no heartbeat for threshold)--> silent --(heartbeat)--> online
 *   online | silent --(connection ends, with a reason)--> offline
 *   silent --(kickSilentAfter)--> kick decision (the adapter disconnects; the end follows)
 *
 * A heartbeat costs O(1): it moves `lastHeartbeat` and nothing else. The
 * timing wheel re-files a connection when its old deadline comes up.
 *
 * An observer (issue 18, docs/insights.md: no will, nothing published on a
 * heartbeat topic, no rule) is never filed in the wheel, so it never goes
 * silent; its first heartbeat makes it a device (a `none -> online` transition:
 * the device appears).
 */
import type { LivenessState, OfflineReason } from './service.js'
import { TimingWheel, type WheelEntry } from './timing-wheel.js'

export class Conn implements WheelEntry {
  slot = -1
  due = 0
  prev: WheelEntry | null = null
  next: WheelEntry | null = null

  state: LivenessState = 'online'
  since: number
  lastHeartbeat: number
  lastPacket: number
  lastPing: number | null = null
  reason: OfflineReason | null = null
  /** Application heartbeats (PUBLISHes) seen; the CONNECT itself is not counted. */
  heartbeats = 0
  /** Not a device (yet): no silence deadline; the first heartbeat promotes it. */
  observer = false

  constructor (
    readonly clientId: string,
    readonly epoch: number,
    readonly connectedAt: number,
    /** Silence threshold (ms). */
    public threshold: number,
    /** A rule set the threshold: an announced heartbeat_interval does not change it. */
    readonly ruleThreshold: boolean
  ) {
    this.since = connectedAt
    this.lastHeartbeat = connectedAt
    this.lastPacket = connectedAt
  }

  /** When this connection goes silent if nothing else arrives. */
  get silentAt (): number { return this.lastHeartbeat + this.threshold }
}

export interface Transition {
  conn: Conn
  /** 'none' for a connection's first status; the adapter may know better (the fleet view). */
  from: LivenessState | 'none'
  to: LivenessState
}

export type Decision = Transition | { kick: Conn }

export interface CoreOptions {
  /** Disconnect a client silent this long (ms), or null. */
  kickSilentAfter: number | null
  /** Sweep granularity (ms); detection is late by at most about twice this. */
  resolutionMs: number
}

export class LivenessCore {
  readonly #wheel: TimingWheel<Conn>
  readonly #kickAfter: number | null
  #open = 0

  constructor (options: CoreOptions, now: number) {
    this.#wheel = new TimingWheel<Conn>(options.resolutionMs, now)
    this.#kickAfter = options.kickSilentAfter
  }

  /** Connections open and tracked. */
  get size (): number { return this.#open }
  /** Entries filed in the wheel (for tests and benchmarks). */
  get scheduled (): number { return this.#wheel.size }

  /** An accepted CONNECT: the CONNECT itself is the first heartbeat. */
  open (conn: Conn, now: number): Transition {
    conn.state = 'online'
    conn.since = now
    conn.lastHeartbeat = now
    conn.lastPacket = now
    this.#open++
    if (!conn.observer) this.#wheel.insert(conn, conn.silentAt)
    return { conn, from: 'none', to: 'online' }
  }

  /** Any packet from the client (PINGREQ included): keeps it connected, not alive. */
  packet (conn: Conn, now: number): void {
    conn.lastPacket = now
  }

  /** An application heartbeat. Returns the silent -> online transition, if any. */
  heartbeat (conn: Conn, now: number): Transition | null {
    conn.lastHeartbeat = now
    conn.lastPacket = now
    conn.heartbeats++
    if (conn.observer && conn.state === 'online') {
      conn.observer = false
      this.#wheel.insert(conn, conn.silentAt)
      return { conn, from: 'none', to: 'online' }
    }
    if (conn.state !== 'silent') return null
    conn.state = 'online'
    conn.since = now
    // A kick deadline may be filed; the silence deadline is what counts now.
    this.#wheel.insert(conn, conn.silentAt)
    return { conn, from: 'silent', to: 'online' }
  }

  /**
   * The device announced its heartbeat period (ms): threshold 2.5 x, unless a
   * rule set one. An earlier deadline is re-filed at once; a later one lazily.
   */
  announce (conn: Conn, intervalMs: number, now: number): boolean {
    if (conn.ruleThreshold) return false
    return this.setThreshold(conn, Math.round(intervalMs * 2.5), now)
  }

  setThreshold (conn: Conn, thresholdMs: number, _now: number): boolean {
    if (conn.threshold === thresholdMs) return false
    conn.threshold = thresholdMs
    if (conn.state === 'online' && conn.slot !== -1 && conn.silentAt < conn.due) this.#wheel.insert(conn, conn.silentAt)
    return true
  }

  /** The connection ended. Returns null when it had already ended. */
  end (conn: Conn, reason: OfflineReason, at: number): Transition | null {
    if (conn.state === 'offline') return null
    const from = conn.state
    this.#wheel.remove(conn)
    this.#open--
    conn.state = 'offline'
    conn.reason = reason
    conn.since = at
    return { conn, from, to: 'offline' }
  }

  /**
   * Everything due at `now`: online connections past their threshold go silent;
   * silent ones past kickSilentAfter are to be kicked. Touches only the
   * connections whose wheel slot is due. Decisions are appended to `out`.
   */
  sweep (now: number, out: Decision[]): number {
    return this.#wheel.sweep(now, (conn) => {
      if (conn.state === 'online') {
        const silentAt = conn.silentAt
        if (silentAt > now) {
          this.#wheel.insert(conn, silentAt)
          return
        }
        conn.state = 'silent'
        conn.since = now
        out.push({ conn, from: 'online', to: 'silent' })
        if (this.#kickAfter !== null) this.#wheel.insert(conn, now + this.#kickAfter)
      } else if (conn.state === 'silent' && this.#kickAfter !== null) {
        if (conn.since + this.#kickAfter > now) {
          this.#wheel.insert(conn, conn.since + this.#kickAfter)
          return
        }
        out.push({ kick: conn })
      }
    })
  }
}
