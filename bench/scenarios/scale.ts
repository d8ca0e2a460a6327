/**
 * scale: tens of thousands of real connections (meant for `vigil-workers4`),
 * and liveness that stays truthful at that size. Raw-socket devices in forked
 * processes (each under the per-process open-file limit, each on its own
 * 127.0.0.x source address: one address has ~28,000 ephemeral ports to one
 * destination) connect with wills and heartbeat; then a subset freezes (keeps
 * PINGREQs, stops heartbeating) and must go silent within silentAfter + 1 s of
 * its last heartbeat, a subset loses power (socket destroyed) and must go
 * offline with its will, and no other device may leave `online`. A watcher on
 * the broker counts every status and will. RSS, CPU and open files per broker
 * process come with the figures.
 */
import { readdirSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import { readProc } from '../proc-stats.js'
import { FleetProcess } from '../session-fleet-process.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { client, num, sleep, until, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface ScaleOptions {
  devices: number, procs: number, parallelism: number, keepalive: number, heartbeatS: number, silentAfterS: number,
  freeze: number, kill: number, connectTimeoutS: number
}

const PREFIX = 'scl-'

function openFiles (pid: number): number | null {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return null }
}

interface Seen { state: string, since: number, lastHeartbeat: number | null, reason: string | null, at: number }

export const scale: Scenario<ScaleOptions> = {
  name: 'scale',
  describe: 'N devices over forked raw-socket processes: connects, truthful silent/offline, false positives, RSS/CPU per worker',
  metrics: [
    { key: 'connected', label: 'connected', unit: '', better: 'higher', digits: 0 },
    { key: 'connectRate', label: 'connects', unit: '/s', better: 'higher', digits: 0 },
    { key: 'silentLateMaxMs', label: 'silent past silentAfter, max', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'offlineNoticedMaxMs', label: 'close noticed after the kill, max', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'offlineLagMaxMs', label: 'offline status seen after the kill, max', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'missedSilent', label: 'frozen, never silent', unit: '', better: 'lower', digits: 0 },
    { key: 'missedOffline', label: 'killed, never offline', unit: '', better: 'lower', digits: 0 },
    { key: 'willsMissing', label: 'wills missing', unit: '', better: 'lower', digits: 0 },
    { key: 'willsDuplicated', label: 'wills twice', unit: '', better: 'lower', digits: 0 },
    { key: 'falsePositives', label: 'false positives', unit: '', better: 'lower', digits: 0 },
    { key: 'rssPerWorkerMiB', label: 'RSS per worker, max', unit: 'MiB', better: 'lower', digits: 0 },
    { key: 'cpuPerWorkerPct', label: 'CPU per worker, max', unit: '% core', better: 'none', digits: 0 }
  ],
  vigilConfig (o) {
    return { liveness: { silentAfter: `${o.silentAfterS}s` }, wills: { tsUnit: 'ms' } }
  },
  parse (f: Flags) {
    const o = {
      devices: num(f, 'devices', 60_000, 10, 200_000),
      procs: num(f, 'procs', 4, 1, 16),
      parallelism: num(f, 'parallelism', 50, 1, 1000),
      keepalive: num(f, 'keepalive', 60, 10, 65535),
      heartbeatS: num(f, 'heartbeat', 15, 0.5, 3600),
      silentAfterS: num(f, 'silent-after', 40, 1, 3600),
      freeze: num(f, 'freeze', 0.01, 0, 0.5),
      kill: num(f, 'kill', 0.01, 0, 0.5),
      connectTimeoutS: num(f, 'connect-timeout', 300, 5, 3600)
    }
    if (o.devices / o.procs > 19_000) throw new Error(`--devices / --procs must stay under 19,000 sockets per load process (got ${Math.ceil(o.devices / o.procs)})`)
    return o
  },
  async run (ctx: Context, o: ScaleOptions): Promise<RunResult> {
    const seen = new Map<string, Seen[]>()
    const wills = new Map<string, number>()
    let barrier = false
    const watcher: MqttClient = await client(ctx.target.url, { clientId: `bench-scale-watch-${process.pid}`, connectTimeout: 30_000 })
    watcher.on('message', (topic, payload, packet) => {
      if (topic === 'bench/scale/barrier') { barrier = true; return }
      if (packet.retain) return
      const at = Date.now()
      if (topic.startsWith(`$liveness/${PREFIX}`)) {
        const p = JSON.parse(payload.toString()) as { clientId: string, state: string, since: number, lastHeartbeat: number | null, reason: string | null }
        const list = seen.get(p.clientId) ?? []
        list.push({ state: p.state, since: p.since, lastHeartbeat: p.lastHeartbeat, reason: p.reason, at })
        seen.set(p.clientId, list)
      } else if (topic.startsWith(`devices/${PREFIX}`)) wills.set(topic, (wills.get(topic) ?? 0) + 1)
    })
    await watcher.subscribeAsync(['$liveness/+', 'devices/+/status', 'bench/scale/barrier'], { qos: 1 })
    const urls = ctx.target.urls ?? [ctx.target.url]
    const ports = urls.map((u) => Number(new URL(u).port))
    const per = Math.ceil(o.devices / o.procs)
    const fleets: Array<{ proc: FleetProcess, from: number, count: number }> = []
    for (let k = 0; k < o.procs; k++) {
      const from = k * per
      const count = Math.min(per, o.devices - from)
      if (count > 0) fleets.push({ proc: new FleetProcess(PREFIX, from, count), from, count })
    }
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids(), workerPids: () => fleets.map((f) => f.proc.pid ?? 0).filter((p) => p > 0), windowMs: 2000 }).begin()
    const online = (): number => { let n = 0; for (const list of seen.values()) if (list[list.length - 1]!.state === 'online') n++; return n }
    const progress = setInterval(() => ctx.progress(`scale ${ctx.target.name}: ${online()} online, ${seen.size} seen`), 5000)
    try {
      const started = Date.now()
      const results = await Promise.all(fleets.map(async (f, k) => (await f.proc.request({
        type: 'connect', which: 'all',
        spec: {
          host: '127.0.0.1', ports, localAddresses: [`127.0.0.${k + 2}`], clean: true, keepalive: o.keepalive, will: true, subscribe: false,
          heartbeatMs: o.heartbeatS * 1000, parallelism: o.parallelism, connackTimeoutMs: 60_000
        }
      }, 'connected')).result))
      const connectMs = Date.now() - started
      const connected = results.reduce((a, r) => a + r.connected, 0)
      const failed = results.reduce((a, r) => a + r.failed, 0)
      const connack = summarizeLatencies(results.flatMap((r) => r.connackMs))
      ctx.progress(`scale ${ctx.target.name}: ${connected} connected, ${failed} failed in ${connectMs} ms ${results.flatMap((r) => r.errors).slice(0, 3).join('; ')}`)
      await until(() => online() >= connected, o.connectTimeoutS * 1000, 500)
      const processes = ctx.target.processes?.() ?? ctx.target.pids().map((pid) => ({ name: `pid ${pid}`, pid }))
      const atRest = processes.map((p) => ({ name: p.name, pid: p.pid, rss: readProc(p.pid)?.rssBytes ?? null, fds: openFiles(p.pid), cpu0: readProc(p.pid)?.cpuMs ?? null }))

      // The faults: in each load process, the first devices freeze and the next ones lose power.
      const frozen: string[] = []
      const killed: string[] = []
      let killedAt = 0
      const freezeAt = Date.now()
      await Promise.all(fleets.map(async (f) => {
        const nf = Math.round(f.count * o.freeze)
        const nk = Math.round(f.count * o.kill)
        for (let i = 0; i < nf; i++) frozen.push(`${PREFIX}${f.from + i}`)
        for (let i = nf; i < nf + nk; i++) killed.push(`${PREFIX}${f.from + i}`)
        await f.proc.request({ type: 'freeze', from: 0, count: nf }, 'done')
        const r = await f.proc.request({ type: 'kill', from: nf, count: nk }, 'done')
        killedAt = Math.max(killedAt, r.at)
      }))
      const last = (id: string): Seen | undefined => { const l = seen.get(id); return l?.[l.length - 1] }
      const settled = (): boolean => frozen.every((id) => last(id)?.state === 'silent') &&
        killed.every((id) => last(id)?.state === 'offline' && wills.has(`devices/${id}/status`))
      // Frozen devices heartbeat for the last time up to one period before the freeze.
      await until(settled, (o.heartbeatS + o.silentAfterS + 30) * 1000, 500)
      // Everyone else kept heartbeating through at least one full silentAfter: a false positive had its chance.
      const observed = Date.now() - freezeAt
      if (observed < (o.heartbeatS + o.silentAfterS + 2) * 1000) await sleep((o.heartbeatS + o.silentAfterS + 2) * 1000 - observed)
      const wallMs = Date.now() - freezeAt
      watcher.publish('bench/scale/barrier', 'end', { qos: 1 })
      await until(() => barrier, 30_000, 100)
      const perProcess = atRest.map((p) => {
        const now = readProc(p.pid)
        return { name: p.name, rssMiB: p.rss !== null ? Math.round(p.rss / 2 ** 20) : null, openFiles: p.fds,
          cpuPct: now !== null && p.cpu0 !== null ? Math.round(100 * (now.cpuMs - p.cpu0) / wallMs) : null }
      })
      const selfCheck = monitor.finish()

      const frozenSet = new Set(frozen)
      const killedSet = new Set(killed)
      let silentLateMaxMs = 0
      let missedSilent = 0
      for (const id of frozen) {
        const s = (seen.get(id) ?? []).find((x) => x.state === 'silent')
        if (s === undefined) { missedSilent++; continue }
        silentLateMaxMs = Math.max(silentLateMaxMs, s.at - ((s.lastHeartbeat ?? s.since) + o.silentAfterS * 1000))
      }
      let offlineLagMaxMs = 0
      let offlineNoticedMaxMs = 0
      let missedOffline = 0
      for (const id of killed) {
        const s = (seen.get(id) ?? []).find((x) => x.state === 'offline')
        if (s === undefined) { missedOffline++; continue }
        offlineLagMaxMs = Math.max(offlineLagMaxMs, s.at - killedAt)
        // `since` of a connection_lost status is when the broker noticed the close.
        offlineNoticedMaxMs = Math.max(offlineNoticedMaxMs, s.since - killedAt)
      }
      let willsMissing = 0
      let willsDuplicated = 0
      for (const id of killed) {
        const n = wills.get(`devices/${id}/status`) ?? 0
        if (n === 0) willsMissing++
        if (n > 1) willsDuplicated++
      }
      let falsePositives = 0
      const falseSample: string[] = []
      for (const [id, list] of seen) {
        if (frozenSet.has(id) || killedSet.has(id)) continue
        const bad = list.filter((s) => s.state !== 'online')
        if (bad.length > 0) {
          falsePositives++
          if (falseSample.length < 5) falseSample.push(`${id}: ${bad.map((b) => `${b.state}/${b.reason ?? ''}`).join(',')}`)
        }
      }
      for (const id of wills.keys()) if (!killedSet.has(id.split('/')[1]!)) falsePositives++
      const workers = perProcess.filter((p) => p.name.startsWith('worker') || p.name.startsWith('node') || p.name.startsWith('pid'))
      ctx.progress(`scale ${ctx.target.name}: ${perProcess.map((p) => `${p.name} ${p.rssMiB} MiB ${p.cpuPct}% CPU ${p.openFiles} fds`).join('; ')}`)
      return {
        scenario: 'scale', target: ctx.target.name, rep: ctx.rep, params: { ...o },
        metrics: {
          devices: o.devices, connected, failed, connectMs, connectRate: rate(connected, connectMs), connackP50: connack.p50, connackP99: connack.p99,
          frozen: frozen.length, killed: killed.length, silentLateMaxMs, offlineLagMaxMs, offlineNoticedMaxMs, missedSilent, missedOffline,
          willsMissing, willsDuplicated, falsePositives,
          rssPerWorkerMiB: Math.max(0, ...workers.map((p) => p.rssMiB ?? 0)),
          cpuPerWorkerPct: Math.max(0, ...workers.map((p) => p.cpuPct ?? 0)),
          openFilesPerWorkerMax: Math.max(0, ...workers.map((p) => p.openFiles ?? 0))
        },
        details: { perProcess, falseSample, loadProcesses: results.map((r) => ({ connected: r.connected, failed: r.failed, errors: r.errors })) },
        selfCheck,
        notes: [`per process: ${perProcess.map((p) => `${p.name} ${p.rssMiB ?? 'n/a'} MiB, ${p.cpuPct ?? 'n/a'}% CPU, ${p.openFiles ?? 'n/a'} open files`).join('; ')}`,
          ...(falseSample.length > 0 ? [`false positives: ${falseSample.join(' | ')}`] : [])]
      }
    } finally {
      clearInterval(progress)
      monitor.finish()
      for (const f of fleets) f.proc.stop()
      watcher.end(true)
      await sleep(1000)
    }
  }
}
