/**
 * fleet's judgement, pure: what the devices truly did (fault times, connection
 * births and ends) and what the observer saw (liveness statuses, status-topic
 * messages) in, per-fault detection figures, false positives and stale wills out.
 */
import { summarizeLatencies } from '../stats.js'

export const FAULTS = ['freeze', 'drop', 'vanish', 'graceful', 'storm'] as const
export type Fault = typeof FAULTS[number]
export type Role = Fault | 'healthy'

export interface LivenessSeen { t: number, state: string, reason: string | null, epoch: number }
export interface StatusSeen { t: number, state: string, will: boolean, boot: number | null, ts: number | null, reason: string | null }

export interface DeviceTruth {
  id: string
  role: Role
  /** When the fault was injected (harness clock). */
  injectedAt: number | null
  /** The true moment the device died, as the contract defines it (freeze: last app publish; vanish: last packet). */
  truthAt: number | null
  /** Per connection (boot number): when it ended and whether a takeover ended it. */
  ends: Map<number, { at: number, takeover: boolean }>
  /** Latest CONNACK (storm: after the last reconnect). */
  lastConnectAt: number
  liveness: LivenessSeen[]
  status: StatusSeen[]
}

export interface FaultFigures {
  devices: number
  detected: number
  missed: number
  /** Detected after the contract's bound. */
  late: number
  boundMs: number
  p50: number
  p99: number
  max: number
  /** Detections whose offline reason was not the expected one. */
  wrongReason: number
}

export interface FleetFigures {
  perFault: Record<string, FaultFigures>
  detection: Record<string, number[]>
  falsePositives: number
  falsePositiveDevices: string[]
  staleWills: number
  takeoverWills: number
  willTsErrorsMs: number[]
  unstampedWills: number
  channel: 'liveness' | 'wills'
}

export interface Bounds { freezeMs: number, vanishMs: number, closeMs: number }

const EXPECT: Record<Exclude<Fault, 'storm'>, { state: string, reason: string | null }> = {
  freeze: { state: 'silent', reason: null },
  drop: { state: 'offline', reason: 'connection_lost' },
  vanish: { state: 'offline', reason: 'keepalive_timeout' },
  graceful: { state: 'offline', reason: 'graceful' }
}

/** Will `ts` to ms: values below 1e11 are seconds (1e11 s is the year 5138). */
export function tsToMs (ts: number): number {
  return ts < 1e11 ? ts * 1000 : ts
}

export function analyzeFleet (devices: DeviceTruth[], liveness: boolean, bounds: Bounds): FleetFigures {
  const detection: Record<string, number[]> = {}
  const perFault: Record<string, FaultFigures> = {}
  const fp = new Set<string>()
  let staleWills = 0
  let takeoverWills = 0
  let unstampedWills = 0
  const willTsErrorsMs: number[] = []
  const boundOf = (f: Fault): number => f === 'freeze' ? bounds.freezeMs : f === 'vanish' ? bounds.vanishMs : bounds.closeMs

  for (const f of FAULTS) {
    if (f === 'storm') continue
    const group = devices.filter((d) => d.role === f)
    const samples: number[] = []
    let missed = 0
    let late = 0
    let wrongReason = 0
    for (const d of group) {
      const since = d.injectedAt ?? Infinity
      let seenAt: number | null = null
      if (liveness) {
        const hit = d.liveness.find((l) => l.t >= since - 50 && l.state === EXPECT[f].state)
        if (hit !== undefined) {
          seenAt = hit.t
          if (EXPECT[f].reason !== null && hit.reason !== EXPECT[f].reason) wrongReason++
        }
      } else if (f !== 'freeze') {
        // Without $liveness the only signal is the status topic: a will, or the device's own graceful message.
        const hit = d.status.find((s) => s.t >= since - 50 && s.state === 'offline')
        if (hit !== undefined) seenAt = hit.t
      }
      if (seenAt === null) { missed++; continue }
      const latency = seenAt - (d.truthAt ?? since)
      samples.push(latency)
      if (latency > boundOf(f)) late++
    }
    const s = summarizeLatencies(samples)
    detection[f] = samples
    perFault[f] = { devices: group.length, detected: samples.length, missed, late, boundMs: boundOf(f), p50: s.p50, p99: s.p99, max: s.max, wrongReason }
  }

  for (const d of devices) {
    const healthyUntil = d.role === 'healthy' ? Infinity : (d.injectedAt ?? Infinity) - 50
    // False positives: a healthy device (or a faulty one before its fault, or a storm
    // device after its last reconnect settled) ever reported silent/offline.
    const stormSettled = d.role === 'storm' ? d.lastConnectAt + 200 : Infinity
    for (const l of d.liveness) {
      if (l.state === 'online') continue
      if (l.t < healthyUntil || (d.role === 'storm' && l.t > stormSettled)) fp.add(d.id)
    }
    for (const s of d.status) {
      if (s.state !== 'offline') continue
      if (d.role === 'healthy' || (d.role !== 'storm' && s.t < healthyUntil)) fp.add(d.id)
    }
    // Wills: stamped ts vs the true time of death; stale wills after reconnects.
    let latestBirth: number | null = null
    for (const s of d.status) {
      if (s.state === 'online' && s.boot !== null) { latestBirth = s.boot; continue }
      if (!s.will) continue
      if ((d.role === 'drop' || d.role === 'vanish') && d.truthAt !== null) {
        if (s.ts === null || s.ts <= 0) unstampedWills++
        else willTsErrorsMs.push(tsToMs(s.ts) - d.truthAt)
      }
      if (d.role === 'storm' && latestBirth !== null) {
        const end = d.ends.get(latestBirth)
        // The will arrived while the newest connection was still alive: it belongs
        // to an older connection and overwrote the fresh birth.
        if (end === undefined || end.at > s.t) staleWills++
        else if (end.takeover) takeoverWills++
      }
    }
  }
  return {
    perFault, detection, falsePositives: fp.size, falsePositiveDevices: [...fp].slice(0, 20),
    staleWills, takeoverWills, willTsErrorsMs, unstampedWills, channel: liveness ? 'liveness' : 'wills'
  }
}
