/**
 * cluster: publishers on node A, subscribers spread over every node of the
 * target (A and B for `vigil-cluster`; the shared port, so every worker, for
 * `vigil-workersN`; the one node otherwise). Every subscriber takes every
 * message, so on two nodes half the deliveries cross Redis. Delivered msg/s,
 * loss, p50/p99 latency, and the broker's CPU with them (per process too): the
 * harness shares the machine, so a figure without the broker's CPU says little.
 */
import type { MqttClient } from 'mqtt'
import { readProc } from '../proc-stats.js'
import { runPublishersSpread } from '../publisher-load.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { client, endAll, nowMs, num, pool, qosFlag, readStamp, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'
import { LATENCY_METRICS } from './fanin.js'

export interface ClusterOptions { publishers: number, subscribers: number, qos: 0 | 1 | 2, payload: number, rate: number, durationMs: number, maxMessages: number }

/** Latency samples kept for the report (every delivery is counted). */
const MAX_SAMPLES = 200_000

export const cluster: Scenario<ClusterOptions> = {
  name: 'cluster',
  describe: 'publishers on node A, subscribers on every node: delivered msg/s, loss, p50/p99, broker CPU',
  metrics: [
    { key: 'rxRate', label: 'delivered', unit: 'msg/s', better: 'higher', digits: 0 },
    { key: 'lossPct', label: 'loss', unit: '%', better: 'lower', digits: 2 },
    ...LATENCY_METRICS,
    { key: 'brokerCpuPct', label: 'broker CPU', unit: '% core', better: 'none', digits: 0 },
    { key: 'cpuUsPerMsg', label: 'broker CPU/delivery', unit: 'µs', better: 'lower', digits: 1 }
  ],
  parse (f: Flags) {
    return {
      publishers: num(f, 'publishers', 10, 1, 1000),
      subscribers: num(f, 'subscribers', 4, 1, 1000),
      qos: qosFlag(f, 0),
      payload: num(f, 'payload', 64, 16, 256 * 1024),
      rate: num(f, 'rate', 0, 0, 1_000_000),
      durationMs: num(f, 'duration', 5, 0.1, 120) * 1000,
      maxMessages: num(f, 'max-messages', 100_000, 1, 5_000_000)
    }
  },
  async run (ctx: Context, o: ClusterOptions): Promise<RunResult> {
    const urls = ctx.target.urls ?? [ctx.target.url]
    const workerPids: number[] = []
    const subs: MqttClient[] = []
    const latencies: number[] = []
    const perNode = urls.map(() => 0)
    let received = 0
    let firstRx = 0
    let lastRx = 0
    try {
      await pool(Array.from({ length: o.subscribers }, (_, i) => i), 10, async (i) => {
        const node = i % urls.length
        const c = await client(urls[node]!, { clientId: `bench-cluster-sub-${process.pid}-${i}` })
        subs.push(c)
        c.on('message', (_t, payload) => {
          const now = nowMs()
          const s = readStamp(payload)
          if (s === null) return
          received++
          perNode[node]!++
          if (firstRx === 0) firstRx = now
          lastRx = now
          if (latencies.length < MAX_SAMPLES) latencies.push(now - s.sentAt)
        })
        await c.subscribeAsync('bench/cluster/+', { qos: o.qos })
      })
      // A subscription on B reaches A's routes within a Redis round trip: let it settle.
      if (urls.length > 1) await sleep(500)
      const processes = ctx.target.processes?.() ?? ctx.target.pids().map((pid) => ({ name: `pid ${pid}`, pid }))
      const before = new Map(processes.map((p) => [p.pid, readProc(p.pid)]))
      const monitor = new Monitor({ brokerPids: () => ctx.target.pids(), workerPids: () => workerPids }).begin()
      const cpuBefore = monitor.brokerCpuMs()
      const started = nowMs()
      const progress = setInterval(() => ctx.progress(`cluster ${ctx.target.name} rep ${ctx.rep}: ${received} delivered`), 2000)
      try {
        const pub = await runPublishersSpread({
          url: urls[0]!, first: 0, count: o.publishers, topicTemplate: 'bench/cluster/{i}', qos: o.qos, payloadBytes: o.payload,
          rate: o.rate, durationMs: o.durationMs, window: 64, maxPerPublisher: Math.ceil(o.maxMessages / o.publishers)
        }, ctx.workers, (pids) => workerPids.push(...pids))
        const expected = pub.sent * o.subscribers
        // Drain: up to 20 s, ending early only after 2 s without a delivery (a loaded machine
        // starves the harness for longer than fanout's 500 ms, which read as loss).
        const drainEnd = Date.now() + 20_000
        let idleSince = Date.now()
        let was = received
        while (received < expected && Date.now() < drainEnd && Date.now() - idleSince < 2000) {
          await sleep(100)
          if (received !== was) { was = received; idleSince = Date.now() }
        }
        const wallMs = nowMs() - started
        const cpuAfter = monitor.brokerCpuMs()
        const selfCheck = monitor.finish()
        const lat = summarizeLatencies(latencies)
        const cpuMs = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : NaN
        const perProcess = processes.map((p) => {
          const a = before.get(p.pid)
          const b = readProc(p.pid)
          return { name: p.name, cpuPct: a != null && b !== null ? Math.round(100 * (b.cpuMs - a.cpuMs) / wallMs) : null, rssMiB: b !== null ? Math.round(b.rssBytes / 2 ** 20) : null }
        })
        ctx.progress(`cluster ${ctx.target.name} rep ${ctx.rep}: ${perProcess.map((p) => `${p.name} ${p.cpuPct ?? 'n/a'}% CPU ${p.rssMiB ?? 'n/a'} MiB`).join(', ')}`)
        return {
          scenario: 'cluster', target: ctx.target.name, rep: ctx.rep, params: { ...o, nodes: urls.length, loadWorkers: ctx.workers },
          metrics: {
            sent: pub.sent, received, rxRate: firstRx > 0 ? rate(Math.max(0, received - 1), lastRx - firstRx) : 0,
            lossPct: expected > 0 ? 100 * Math.max(0, expected - received) / expected : 0,
            p50: lat.p50, p99: lat.p99, maxLatency: lat.max,
            brokerCpuPct: 100 * cpuMs / wallMs,
            cpuUsPerMsg: received > 0 ? 1000 * cpuMs / received : NaN
          },
          latencies,
          details: { perProcess, deliveredPerNode: perNode },
          selfCheck,
          notes: [`per process: ${perProcess.map((p) => `${p.name} ${p.cpuPct ?? 'n/a'}% CPU, ${p.rssMiB ?? 'n/a'} MiB`).join('; ')}`,
            ...(urls.length > 1 ? [`deliveries per node: ${perNode.join(' / ')}`] : [])]
        }
      } finally {
        clearInterval(progress)
        monitor.finish()
      }
    } finally {
      await endAll(subs)
    }
  }
}
