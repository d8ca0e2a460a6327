/**
 * fleet: D simulated devices (docs/device-protocol.md), then scripted faults on
 * chosen fractions (freeze, drop, vanish, graceful stop, reconnect storm).
 * Measures liveness truth: detection latency per fault, false positives,
 * missed detections, will `ts` error, stale wills; plus broker CPU and RSS.
 */
import { randomUUID } from 'node:crypto'
import { sourceAddress } from '../source-address.js'
import { FleetDevicesProcess } from '../fleet-devices-process.js'
import type { FleetDeviceSpec } from '../fleet-devices.js'
import { Monitor } from '../self-check.js'
import { summarizeLatencies } from '../stats.js'
import { client, endAll, nowMs, num, sleep, until, type Context, type Flags, type RunResult, type Scenario } from './common.js'
import { analyzeFleet, FAULTS, type DeviceTruth, type Fault, type Role } from './fleet-analysis.js'

export interface FleetOptions {
  devices: number
  heartbeatMs: number
  jitter: number
  keepalive: number
  fractions: Record<Fault, number>
  stormReconnects: number
  parallelism: number
  warmupMs: number
  commands: number
  graceMs: number
}

/** Faults interleaved and spread evenly over the id range (and so over connection order). */
export function assignRoles (n: number, fractions: Record<Fault, number>): Role[] {
  const left = new Map(FAULTS.map((f) => [f, Math.round(n * fractions[f])]))
  const order: Fault[] = []
  while ([...left.values()].some((c) => c > 0)) {
    for (const f of FAULTS) if (left.get(f)! > 0) { order.push(f); left.set(f, left.get(f)! - 1) }
  }
  const roles: Role[] = new Array<Role>(n).fill('healthy')
  const total = Math.min(order.length, n)
  for (let k = 0; k < total; k++) roles[Math.floor(k * n / total)] = order[k]!
  return roles
}

/** Devices per forked device process (bench/fleet-devices.ts). */
export const DEVICES_PER_PROCESS = 5000

export const fleet: Scenario<FleetOptions> = {
  name: 'fleet',
  describe: 'D devices per CONTRACT 8 with scripted faults: detection latency, false positives, missed, will ts error, stale wills',
  metrics: [
    { key: 'freezeP50', label: 'freeze detect p50', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'dropP50', label: 'drop detect p50', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'vanishP50', label: 'vanish detect p50', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'gracefulP50', label: 'graceful detect p50', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'missed', label: 'missed', unit: '', better: 'lower', digits: 0 },
    { key: 'falsePositives', label: 'false pos.', unit: '', better: 'lower', digits: 0 },
    { key: 'staleWills', label: 'stale wills', unit: '', better: 'lower', digits: 0 },
    { key: 'takeoverWills', label: 'takeover wills', unit: '', better: 'lower', digits: 0 },
    { key: 'willTsErrP99', label: 'will ts error p99 (abs)', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'brokerCpuPct', label: 'broker CPU', unit: '%', better: 'lower', digits: 1 },
    { key: 'brokerRssMiB', label: 'broker RSS', unit: 'MiB', better: 'lower', digits: 1 }
  ],
  // Will ts in ms so the error can be measured below a second.
  vigilConfig: () => ({ wills: { tsUnit: 'ms' } }),
  parse (f: Flags) {
    const frac = (k: string): number => num(f, k, 0.05, 0, 0.2)
    const heartbeatMs = num(f, 'heartbeat', 2, 0.5, 60) * 1000
    const keepalive = num(f, 'keepalive', 4, 1, 60)
    return {
      devices: num(f, 'devices', 200, 5, 19_500),
      heartbeatMs,
      jitter: num(f, 'jitter', 0.1, 0, 0.3),
      keepalive,
      fractions: { freeze: frac('freeze'), drop: frac('drop'), vanish: frac('vanish'), graceful: frac('graceful'), storm: frac('storm') },
      stormReconnects: num(f, 'storm-reconnects', 3, 1, 10),
      parallelism: num(f, 'parallelism', 50, 1, 500),
      warmupMs: num(f, 'warmup', Math.max(6, 3 * heartbeatMs / 1000), 1, 60) * 1000,
      commands: num(f, 'commands', 50, 0, 5000),
      graceMs: num(f, 'grace', 3, 0, 30) * 1000
    }
  },
  async run (ctx: Context, o: FleetOptions): Promise<RunResult> {
    const url = new URL(ctx.target.url)
    const host = url.hostname
    const port = Number(url.port || 1883)
    const roles = assignRoles(o.devices, o.fractions)
    const truth = new Map<string, DeviceTruth>()
    const specs: FleetDeviceSpec[] = roles.map((role, i) => {
      const id = `bench-dev-${i}`
      truth.set(id, { id, role, injectedAt: null, truthAt: null, ends: new Map(), lastConnectAt: 0, liveness: [], status: [] })
      const localAddress = sourceAddress(host, i)
      return { role, index: i, options: { id, host, port, keepalive: o.keepalive, heartbeatMs: o.heartbeatMs, jitter: o.jitter, telemetry: true, ...(localAddress !== undefined ? { localAddress } : {}) } }
    })
    // The devices live in forked processes, DEVICES_PER_PROCESS each: a process may hold
    // 20,000 open files here, and a 19,000-device fleet must not share one with the observer.
    const shares: FleetDeviceSpec[][] = []
    const perProcess = Math.ceil(specs.length / Math.ceil(specs.length / DEVICES_PER_PROCESS))
    for (let k = 0; k < specs.length; k += perProcess) shares.push(specs.slice(k, k + perProcess))
    const children = shares.map(() => new FleetDevicesProcess())
    const acks = new Map<string, number>()
    const ackLatencies: number[] = []
    const observer = await client(ctx.target.url, { clientId: `bench-observer-${process.pid}`, keepalive: 30 })
    observer.on('message', (topic, payload) => {
      const t = Date.now()
      const parts = topic.split('/')
      let msg: Record<string, unknown>
      try { msg = JSON.parse(payload.toString()) as Record<string, unknown> } catch { return }
      if (parts[0] === '$liveness') {
        const d = truth.get(parts[1] ?? '')
        if (d !== undefined && typeof msg.state === 'string') {
          d.liveness.push({ t, state: msg.state, reason: typeof msg.reason === 'string' ? msg.reason : null, epoch: Number(msg.epoch ?? 0) })
        }
      } else if (parts[0] === 'devices' && parts[2] === 'status') {
        const d = truth.get(parts[1] ?? '')
        if (d !== undefined && typeof msg.state === 'string') {
          d.status.push({
            t, state: msg.state, will: msg.state === 'offline' && 'ts' in msg, boot: typeof msg.boot === 'number' ? msg.boot : null,
            ts: typeof msg.ts === 'number' ? msg.ts : null, reason: typeof msg.reason === 'string' ? msg.reason : null
          })
        }
      } else if (parts[0] === 'devices' && parts[3] === 'ack' && typeof msg.id === 'string') {
        const sent = acks.get(msg.id)
        if (sent !== undefined) { ackLatencies.push(nowMs() - sent); acks.delete(msg.id) }
      }
    })
    await observer.subscribeAsync({ '$liveness/+': { qos: 1 }, 'devices/+/status': { qos: 1 }, 'devices/+/commands/ack': { qos: 1 } })
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids(), workerPids: () => children.map((c) => c.pid).filter((p): p is number => p !== undefined) }).begin()
    const notes: string[] = []
    try {
      const c0 = Date.now()
      await Promise.all(children.map(async (child, k) => {
        const { connectedAt } = await child.request({ type: 'connect', devices: shares[k]!, parallelism: Math.max(1, Math.round(o.parallelism / children.length)) }, 'connected')
        shares[k]!.forEach((spec, j) => { truth.get(spec.options.id)!.lastConnectAt = connectedAt[j]! })
      }))
      const connectMs = Date.now() - c0
      ctx.progress(`fleet ${ctx.target.name} rep ${ctx.rep}: ${o.devices} connected in ${connectMs} ms; warm-up ${o.warmupMs} ms`)

      // Commands to healthy devices during warm-up; some sent twice with the same id (acked twice, executed once).
      const healthy = specs.filter((spec) => spec.role === 'healthy')
      const cmdTargets = healthy.slice(0, o.commands)
      const spacing = cmdTargets.length > 0 ? (o.warmupMs / 2) / cmdTargets.length : 0
      const cmdLoop = (async () => {
        for (const [k, d] of cmdTargets.entries()) {
          const id = randomUUID()
          acks.set(id, nowMs())
          const body = JSON.stringify({ id, command: 'ping', args: {}, ts: Date.now() })
          observer.publish(`devices/${d.options.id}/commands`, body, { qos: 1 })
          if (k % 10 === 0) observer.publish(`devices/${d.options.id}/commands`, body, { qos: 1 })
          await sleep(spacing)
        }
      })()
      await sleep(o.warmupMs)
      await cmdLoop

      // Faults, all at once, in every device process; each answers once its storms are over.
      const injectAt = Date.now()
      ctx.progress(`fleet ${ctx.target.name} rep ${ctx.rep}: faults injected, observing`)
      const injected = await Promise.all(children.map(async (child) => await child.request({ type: 'inject', stormReconnects: o.stormReconnects }, 'injected')))
      for (const { truth: reported } of injected) {
        for (const r of reported) {
          const t = truth.get(r.id)!
          t.injectedAt = r.injectedAt
          t.truthAt = r.truthAt
          for (const [boot, end] of r.ends) t.ends.set(boot, end)
          t.lastConnectAt = r.lastConnectAt
          notes.push(...r.notes)
        }
      }
      const bounds = {
        freezeMs: 2.5 * o.heartbeatMs * (1 + o.jitter) + 1000,
        vanishMs: 1.5 * o.keepalive * 1000 + 1000,
        closeMs: 1000
      }
      const deadline = injectAt + Math.max(bounds.freezeMs + o.heartbeatMs, bounds.vanishMs) + o.graceMs
      const expectedLive = ctx.target.liveness
      const allSeen = (): boolean => [...truth.values()].every((d) => {
        if (d.role === 'healthy' || d.role === 'storm') return true
        if (expectedLive) return d.liveness.some((l) => l.t >= (d.injectedAt ?? 0) - 50 && l.state !== 'online')
        return d.role === 'freeze' || d.status.some((s) => s.t >= (d.injectedAt ?? 0) - 50 && s.state === 'offline')
      })
      // Storm devices must stay online for a full silence threshold after they settle (no false silent).
      const stormSettle = Math.max(0, ...[...truth.values()].filter((d) => d.role === 'storm').map((d) => d.lastConnectAt)) + bounds.freezeMs
      await until(() => allSeen() && Date.now() >= stormSettle, Math.max(0, Math.max(deadline, stormSettle) - Date.now()), 100)
      if (!ctx.target.liveness) await until(() => false, Math.max(0, deadline - Date.now()), 200)

      // Final truth: retained device status and liveness of every device that should be up.
      const fresh = await client(ctx.target.url, { clientId: `bench-final-${process.pid}` })
      const finalStatus = new Map<string, string>()
      const finalLive = new Map<string, string>()
      fresh.on('message', (topic, payload) => {
        try {
          const m = JSON.parse(payload.toString()) as { state?: string }
          const [root, id] = topic.split('/')
          if (root === '$liveness') finalLive.set(id!, m.state ?? '')
          else finalStatus.set(id!, m.state ?? '')
        } catch {}
      })
      await fresh.subscribeAsync({ 'devices/+/status': { qos: 1 }, '$liveness/+': { qos: 1 } })
      const up = [...truth.values()].filter((d) => d.role === 'healthy' || d.role === 'storm')
      // Every device has a retained status (and a $liveness one): wait until they are all in,
      // or nothing new came for 2 s. 800 ms were not enough for 38,000 retained messages at 19,000 devices.
      let lastCount = -1
      let quietSince = Date.now()
      await until(() => {
        const count = finalStatus.size + finalLive.size
        if (count !== lastCount) { lastCount = count; quietSince = Date.now() }
        return (finalStatus.size >= o.devices && (!ctx.target.liveness || finalLive.size >= o.devices)) || Date.now() - quietSince > 2000
      }, 60_000, 100)
      await endAll([fresh])
      const staleRetained = up.filter((d) => finalStatus.get(d.id) !== 'online').length
      const staleLiveness = ctx.target.liveness ? up.filter((d) => finalLive.get(d.id) !== 'online').length : 0

      const selfCheck = monitor.finish()
      const figures = analyzeFleet([...truth.values()], ctx.target.liveness, bounds)
      const missed = Object.values(figures.perFault).reduce((a, f) => a + f.missed, 0)
      const tsErr = summarizeLatencies(figures.willTsErrorsMs.map(Math.abs))
      const ack = summarizeLatencies(ackLatencies)
      if (!ctx.target.liveness) notes.push(`${ctx.target.name} has no $liveness: detection via wills only; frozen devices are never detected (${figures.perFault.freeze?.devices ?? 0} missed)`)
      if (!ctx.target.stampsWills) notes.push('wills are not stamped: ts stays 0')
      const executed = (await Promise.all(children.map(async (child) => (await child.request({ type: 'executed' }, 'executed')).count))).reduce((a, n) => a + n, 0)
      return {
        scenario: 'fleet', target: ctx.target.name, rep: ctx.rep, params: { ...o },
        metrics: {
          devices: o.devices, connectMs,
          freezeP50: figures.perFault.freeze!.p50, dropP50: figures.perFault.drop!.p50,
          vanishP50: figures.perFault.vanish!.p50, gracefulP50: figures.perFault.graceful!.p50,
          missed, late: Object.values(figures.perFault).reduce((a, f) => a + f.late, 0),
          falsePositives: figures.falsePositives, staleWills: figures.staleWills + staleRetained, staleWillsLive: figures.staleWills,
          staleRetained, staleLiveness, takeoverWills: figures.takeoverWills,
          willTsErrP50: tsErr.p50, willTsErrP99: tsErr.p99, unstampedWills: figures.unstampedWills,
          commandsSent: cmdTargets.length, commandsAcked: ack.count, commandsExecuted: executed, ackP50: ack.p50,
          brokerCpuPct: (selfCheck.brokerCpuMean ?? NaN) * 100, brokerRssMiB: (selfCheck.brokerRssMax ?? NaN) / 2 ** 20
        },
        detection: figures.detection,
        details: { perFault: figures.perFault, channel: figures.channel, falsePositiveDevices: figures.falsePositiveDevices, bounds },
        selfCheck, notes
      }
    } finally {
      monitor.finish()
      await Promise.all(children.map(async (child) => await child.request({ type: 'close' }, 'closed').catch(() => {})))
      for (const child of children) child.stop()
      await endAll([observer])
      await sleep(200)
    }
  }
}
