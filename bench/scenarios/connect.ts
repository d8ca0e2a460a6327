/**
 * connect: M clients, each with a will, connecting at a given parallelism.
 * Connects/s, CONNACK latency, and the broker's RSS per idle connection
 * (RSS after all are connected and idle, minus RSS before, over M). Raw
 * sockets keep the harness cheap so the broker, not mqtt.js, is measured.
 */
import { ConnectLoadProcess } from '../connect-load-process.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { num, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface ConnectOptions { clients: number, parallelism: number, keepalive: number }

/**
 * Clients per forked load process: well under the 20,000 open files a process
 * may hold here, so `--clients 19000` runs as four children while the broker
 * stays one process.
 */
export const CLIENTS_PER_LOAD_PROCESS = 5000

/** How M clients and P in parallel split over the load processes. */
export function splitLoad (clients: number, parallelism: number): Array<{ first: number, count: number, parallelism: number }> {
  const n = Math.ceil(clients / CLIENTS_PER_LOAD_PROCESS)
  const base = Math.floor(clients / n)
  return Array.from({ length: n }, (_, i) => ({
    first: i * base,
    count: i === n - 1 ? clients - base * (n - 1) : base,
    parallelism: Math.max(1, Math.round(parallelism / n))
  }))
}

export const connectScenario: Scenario<ConnectOptions> = {
  name: 'connect',
  describe: 'M clients with wills at a given parallelism: connects/s, broker RSS per idle connection',
  metrics: [
    { key: 'connectRate', label: 'connects', unit: '/s', better: 'higher', digits: 0 },
    { key: 'p50', label: 'CONNACK p50', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'p99', label: 'CONNACK p99', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'rssPerConnKiB', label: 'RSS/idle conn', unit: 'KiB', better: 'lower', digits: 1 }
  ],
  parse (f: Flags) {
    return {
      clients: num(f, 'clients', 1000, 1, 20_000),
      parallelism: num(f, 'parallelism', 50, 1, 1000),
      keepalive: num(f, 'keepalive', 60, 0, 65535)
    }
  },
  async run (ctx: Context, o: ConnectOptions): Promise<RunResult> {
    const url = new URL(ctx.target.url)
    const host = url.hostname
    const port = Number(url.port || 1883)
    const shares = splitLoad(o.clients, o.parallelism)
    const loads = shares.map(() => new ConnectLoadProcess())
    const monitor = new Monitor({
      brokerPids: () => ctx.target.pids(),
      workerPids: () => loads.map((l) => l.pid).filter((p): p is number => p !== undefined)
    })
    await sleep(300)
    const rssBefore = monitor.brokerRss()
    monitor.begin()
    const progress = setInterval(() => ctx.progress(`connect ${ctx.target.name} rep ${ctx.rep}: ${o.clients} clients over ${loads.length} load process(es)`), 5000)
    try {
      const prefix = `bench-conn-${process.pid}-${ctx.rep}`
      const replies = await Promise.all(loads.map(async (load, i) => await load.request({
        type: 'connect', host, port, prefix, keepalive: o.keepalive, ...shares[i]!
      })))
      const latencies: number[] = []
      let failed = 0
      const errors = new Set<string>()
      let startedAt = Infinity
      let endedAt = 0
      for (const r of replies) {
        if (r.type !== 'connected') throw new Error(`connect load answered ${r.type}`)
        for (const ms of r.latencies) latencies.push(ms)
        failed += r.failed
        if (r.firstError !== null) errors.add(r.firstError)
        startedAt = Math.min(startedAt, r.startedAt)
        endedAt = Math.max(endedAt, r.endedAt)
      }
      const connected = latencies.length
      const selfCheck = monitor.finish()
      // Let the broker settle (GC, buffers) before reading the idle footprint.
      await sleep(1500 + o.clients / 10)
      const rssAfter = monitor.brokerRss()
      const lat = summarizeLatencies(latencies)
      const perConn = rssBefore !== null && rssAfter !== null && connected > 0 ? (rssAfter - rssBefore) / connected / 1024 : NaN
      return {
        scenario: 'connect', target: ctx.target.name, rep: ctx.rep, params: { ...o, loadProcesses: loads.length },
        metrics: {
          connected, failed, connectRate: rate(connected, endedAt - startedAt), p50: lat.p50, p99: lat.p99,
          rssBeforeMiB: rssBefore !== null ? rssBefore / 2 ** 20 : NaN, rssAfterMiB: rssAfter !== null ? rssAfter / 2 ** 20 : NaN,
          rssPerConnKiB: perConn
        },
        latencies, selfCheck,
        notes: [...(ctx.target.pids().length > 1 ? ['RSS includes redis-server'] : []),
          ...(failed > 0 ? [`${failed} connects failed, e.g. ${[...errors].slice(0, 2).join('; ')}`] : [])]
      }
    } finally {
      clearInterval(progress)
      monitor.finish()
      await Promise.all(loads.map(async (l) => await l.request({ type: 'close' }).catch(() => {})))
      for (const l of loads) l.stop()
      await sleep(200 + o.clients / 20)
    }
  }
}
