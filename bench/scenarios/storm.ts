/**
 * storm (issue 11): N devices with a will on `devices/<id>/status` (QoS 1,
 * retained) lose their sockets all at once and reconnect, R rounds; then R
 * takeover races (the new CONNECTs first, the old sockets die --close-after ms
 * later). Per round: reconnects/s and the time until every device is settled
 * again (its newest birth on the device topic, with --birth 1; and, where the
 * broker has it, `$liveness` online at a newer epoch). Then: CONNACK p50/p99,
 * stale statuses left after the last round, broker RSS peak; then one last mass
 * close with no reconnect (time until every will is out), and whether the
 * broker survived all of it. `--birth 0` is the issue's exact shape (no device publishes).
 */
import { StormFleet, StormWatcher } from '../storm-fleet.js'
import { Monitor } from '../self-check.js'
import { readProc } from '../proc-stats.js'
import { rate, summarizeLatencies } from '../stats.js'
import { client, endAll, nowMs, num, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface StormOptions {
  clients: number
  rounds: number
  keepalive: number
  closeAfterMs: number
  birth: boolean
  settleMs: number
  graceMs: number
}

interface RoundFigures { mode: 'storm' | 'takeover', reconnectRate: number, connackMs: number, settleMs: number, unsettled: number, wills: number }

export const storm: Scenario<StormOptions> = {
  name: 'storm',
  describe: 'N devices with wills lose their sockets at once and reconnect (and a takeover race): settle time, CONNACK, stale statuses, RSS',
  metrics: [
    { key: 'reconnectRate', label: 'reconnects', unit: '/s', better: 'higher', digits: 0 },
    { key: 'settleMs', label: 'settle (worst round)', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'p50', label: 'CONNACK p50', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'p99', label: 'CONNACK p99', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'stale', label: 'stale statuses', unit: '', better: 'lower', digits: 0 },
    { key: 'brokerRssMiB', label: 'broker RSS peak', unit: 'MiB', better: 'lower', digits: 0 },
    { key: 'crashed', label: 'crashed', unit: '', better: 'lower', digits: 0 }
  ],
  parse (f: Flags) {
    return {
      clients: num(f, 'clients', 3000, 1, 18_000),
      rounds: num(f, 'rounds', 3, 1, 20),
      keepalive: num(f, 'keepalive', 30, 0, 65535),
      closeAfterMs: num(f, 'close-after', 50, 0, 10_000),
      birth: num(f, 'birth', 1, 0, 1) === 1,
      settleMs: num(f, 'settle-timeout', 30, 1, 300) * 1000,
      graceMs: num(f, 'grace', 1, 0, 30) * 1000
    }
  },
  async run (ctx: Context, o: StormOptions): Promise<RunResult> {
    const target = ctx.target
    const ids = Array.from({ length: o.clients }, (_, i) => `storm-${process.pid}-${i}`)
    const observer = await client(target.url, { clientId: `bench-storm-obs-${process.pid}`, keepalive: 0 })
    const watcher = await StormWatcher.subscribe(observer, ids, target.liveness)
    const fleet = new StormFleet(target.url, ids, { keepalive: o.keepalive, birth: o.birth })
    const monitor = new Monitor({ brokerPids: () => target.pids() })
    const notes: string[] = []
    const alive = (): boolean => target.pids().length === 0 || target.pids().every((pid) => readProc(pid) !== null)
    const judged = target.liveness || o.birth
    /** Devices not settled at `boot` (newest birth; newest `$liveness` online), polled until none or the timeout. */
    const settle = async (before: Map<string, number>, started: number): Promise<{ ms: number, left: number }> => {
      if (!judged) return { ms: NaN, left: 0 }
      const boot = o.birth ? fleet.boot : null
      const deadline = Date.now() + o.settleMs
      for (;;) {
        const left = watcher.unsettled(boot, target.liveness, before).length
        if (left === 0) return { ms: nowMs() - started, left }
        if (Date.now() > deadline || !alive()) return { ms: NaN, left }
        await sleep(10)
      }
    }
    const latencies: number[] = []
    const rounds: RoundFigures[] = []
    let crashed = 0
    let lastBefore = new Map<string, number>()
    let finalCloseMs = NaN
    try {
      // The first connect is not measured: a device refused in the burst tries again.
      let missing = (await fleet.round('storm')).failed
      for (let attempt = 0; attempt < 3 && missing > 0; attempt++) missing = await fleet.connectMissing()
      if (missing > 0) throw new Error(`${missing} of ${o.clients} devices could not connect`)
      await settle(new Map(), nowMs())
      await sleep(500)
      monitor.begin()
      const rssBefore = monitor.brokerRss()
      const plan: Array<'storm' | 'takeover'> = [...Array(o.rounds).fill('storm'), ...Array(o.rounds).fill('takeover')]
      for (const [i, mode] of plan.entries()) {
        const before = watcher.epochs()
        lastBefore = before
        const willsBefore = countWills(watcher)
        const started = nowMs()
        const r = await fleet.round(mode, mode === 'takeover' ? { afterMs: o.closeAfterMs } : {})
        latencies.push(...r.latencies)
        const s = await settle(before, started)
        rounds.push({ mode, reconnectRate: rate(r.latencies.length, r.elapsedMs), connackMs: r.elapsedMs, settleMs: s.ms, unsettled: s.left, wills: countWills(watcher) - willsBefore })
        ctx.progress(`storm ${target.name} rep ${ctx.rep}: round ${i + 1}/${plan.length} (${mode}) ${r.latencies.length} reconnected in ${r.elapsedMs.toFixed(0)} ms, settled in ${s.ms.toFixed(0)} ms${r.failed > 0 ? `, ${r.failed} failed` : ''}`)
        if (!alive()) { crashed = 1; notes.push(`broker died during round ${i + 1} (${mode})`); break }
        if (r.failed > 0) notes.push(`round ${i + 1} (${mode}): ${r.failed} reconnects failed`)
      }
      // A late stale status (an old connection's will or offline landing after the new
      // birth / online) shows up after settling: look again after a grace period.
      await sleep(o.graceMs)
      const stale = judged && crashed === 0 ? watcher.unsettled(o.birth ? fleet.boot : null, target.liveness, lastBefore).length : NaN
      // Last, the mass close nobody reconnects from (issue 11 died 0.5 s after one):
      // every will and offline status at once. Alive after they are all out, and a grace?
      if (crashed === 0) {
        const wills = countWills(watcher)
        fleet.closeAll()
        const closeStarted = nowMs()
        const deadline = Date.now() + o.settleMs
        while (countWills(watcher) - wills < o.clients && Date.now() < deadline && alive()) await sleep(10)
        finalCloseMs = nowMs() - closeStarted
        await sleep(o.graceMs)
        if (!alive()) { crashed = 1; notes.push('broker died in the final mass close') }
      }
      const selfCheck = monitor.finish()
      const lat = summarizeLatencies(latencies)
      const reconnected = rounds.reduce((a, r) => a + r.reconnectRate * r.connackMs / 1000, 0)
      const connackTotal = rounds.reduce((a, r) => a + r.connackMs, 0)
      const settles = rounds.map((r) => r.settleMs)
      if (!judged) notes.push('--birth 0 and no $liveness: nothing says when a device is back; settle and stale are n/a')
      if (!target.liveness) notes.push(`${target.name} has no $liveness: settled = newest birth on the device topic`)
      return {
        scenario: 'storm', target: target.name, rep: ctx.rep, params: { ...o },
        metrics: {
          devices: o.clients,
          reconnectRate: rate(reconnected, connackTotal),
          settleMs: settles.some((x) => Number.isNaN(x)) ? NaN : Math.max(...settles),
          stormSettleMs: Math.max(...rounds.filter((r) => r.mode === 'storm').map((r) => r.settleMs)),
          takeoverSettleMs: Math.max(...rounds.filter((r) => r.mode === 'takeover').map((r) => r.settleMs)),
          p50: lat.p50, p99: lat.p99,
          stale,
          stormWills: rounds.filter((r) => r.mode === 'storm').reduce((a, r) => a + r.wills, 0),
          takeoverWills: rounds.filter((r) => r.mode === 'takeover').reduce((a, r) => a + r.wills, 0),
          /** The final mass close: until every device's will is out. */
          finalCloseMs,
          brokerRssBeforeMiB: rssBefore !== null ? rssBefore / 2 ** 20 : NaN,
          brokerRssMiB: (selfCheck.brokerRssMax ?? NaN) / 2 ** 20,
          brokerCpuPct: (selfCheck.brokerCpuMean ?? NaN) * 100,
          crashed
        },
        latencies, details: { rounds }, selfCheck, notes
      }
    } finally {
      monitor.finish()
      fleet.closeAll()
      await endAll([observer])
      await sleep(300)
    }
  }
}

/** Offline messages on the device topics so far (wills; a device's own graceful offline never happens here). */
function countWills (watcher: StormWatcher): number {
  let n = 0
  for (const log of watcher.logs.values()) for (const s of log.status) if (s.state === 'offline') n++
  return n
}
