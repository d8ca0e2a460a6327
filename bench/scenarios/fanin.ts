/**
 * fanin: N publishers -> 1 subscriber. Received msg/s, loss, p50/p99
 * end-to-end latency (send stamp in the payload, same machine clock).
 */
import { runPublishersSpread } from '../publisher-load.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { client, endAll, nowMs, num, qosFlag, readStamp, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface FaninOptions { publishers: number, qos: 0 | 1 | 2, payload: number, rate: number, durationMs: number, maxMessages: number }

export const LATENCY_METRICS = [
  { key: 'p50', label: 'p50 latency', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99', label: 'p99 latency', unit: 'ms', better: 'lower', digits: 2 }
] as const

export const fanin: Scenario<FaninOptions> = {
  name: 'fanin',
  describe: 'N publishers -> 1 subscriber: received msg/s, loss, p50/p99 latency',
  metrics: [
    { key: 'rxRate', label: 'received', unit: 'msg/s', better: 'higher', digits: 0 },
    { key: 'lossPct', label: 'loss', unit: '%', better: 'lower', digits: 2 },
    ...LATENCY_METRICS
  ],
  parse (f: Flags) {
    return {
      publishers: num(f, 'publishers', 10, 1, 5000),
      qos: qosFlag(f, 0),
      payload: num(f, 'payload', 64, 16, 256 * 1024),
      rate: num(f, 'rate', 0, 0, 1_000_000),
      durationMs: num(f, 'duration', 5, 0.1, 120) * 1000,
      maxMessages: num(f, 'max-messages', 200_000, 1, 5_000_000)
    }
  },
  async run (ctx: Context, o: FaninOptions): Promise<RunResult> {
    const workerPids: number[] = []
    const sub = await client(ctx.target.url, { clientId: `bench-fanin-sub-${process.pid}` })
    const latencies: number[] = []
    const seen = new Set<number>()
    let received = 0
    let duplicates = 0
    let lastRx = 0
    let firstRx = 0
    sub.on('message', (_topic, payload) => {
      const now = nowMs()
      const s = readStamp(payload)
      if (s === null) return
      const key = s.publisher * 10_000_000 + s.seq
      if (seen.has(key)) { duplicates++; return }
      seen.add(key)
      received++
      if (firstRx === 0) firstRx = now
          lastRx = now
      latencies.push(now - s.sentAt)
    })
    await sub.subscribeAsync('bench/fanin/#', { qos: o.qos })
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids(), workerPids: () => workerPids }).begin()
    const progress = setInterval(() => ctx.progress(`fanin ${ctx.target.name} rep ${ctx.rep}: ${received} received`), 2000)
    const started = nowMs()
    try {
      const pub = await runPublishersSpread({
        url: ctx.target.url, first: 0, count: o.publishers, topicTemplate: 'bench/fanin/{i}', qos: o.qos,
        payloadBytes: o.payload, rate: o.rate, durationMs: o.durationMs, window: 64,
        maxPerPublisher: Math.ceil(o.maxMessages / o.publishers)
      }, ctx.workers, (pids) => workerPids.push(...pids))
      // Drain: wait until nothing new arrived for 500 ms (bounded by 5 s).
      const drainEnd = Date.now() + 5000
      while (received < pub.sent && Date.now() < drainEnd) {
        const before = received
        await sleep(500)
        if (received === before) break
      }
      const selfCheck = monitor.finish()
      const lat = summarizeLatencies(latencies)
      // From the first message received: publisher connections (and worker start-up) are not load.
      const elapsed = firstRx > 0 ? lastRx - firstRx : nowMs() - started
      return {
        scenario: 'fanin', target: ctx.target.name, rep: ctx.rep, params: { ...o, workers: ctx.workers },
        metrics: {
          sent: pub.sent, received, duplicates, rxRate: rate(Math.max(0, received - 1), elapsed),
          lossPct: pub.sent > 0 ? 100 * Math.max(0, pub.sent - received) / pub.sent : 0,
          p50: lat.p50, p99: lat.p99, maxLatency: lat.max
        },
        latencies, selfCheck, notes: []
      }
    } finally {
      clearInterval(progress)
      monitor.finish()
      await endAll([sub])
    }
  }
}
