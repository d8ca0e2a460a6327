/**
 * fanout: 1 publisher -> N subscribers on one topic. Delivered msg/s (all
 * subscribers together), loss against sent x N, p50/p99 latency.
 */
import type { MqttClient } from 'mqtt'
import { runPublishersSpread } from '../publisher-load.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { client, endAll, nowMs, num, pool, qosFlag, readStamp, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'
import { LATENCY_METRICS } from './fanin.js'

export interface FanoutOptions { subscribers: number, qos: 0 | 1 | 2, payload: number, rate: number, durationMs: number, maxMessages: number, shared: boolean }

export const fanout: Scenario<FanoutOptions> = {
  name: 'fanout',
  describe: '1 publisher -> N subscribers: delivered msg/s, loss, p50/p99 latency',
  metrics: [
    { key: 'rxRate', label: 'delivered', unit: 'msg/s', better: 'higher', digits: 0 },
    { key: 'lossPct', label: 'loss', unit: '%', better: 'lower', digits: 2 },
    ...LATENCY_METRICS
  ],
  parse (f: Flags) {
    return {
      subscribers: num(f, 'subscribers', 50, 1, 5000),
      qos: qosFlag(f, 0),
      payload: num(f, 'payload', 64, 16, 256 * 1024),
      rate: num(f, 'rate', 1000, 0, 1_000_000),
      durationMs: num(f, 'duration', 5, 0.1, 120) * 1000,
      maxMessages: num(f, 'max-messages', 20_000, 1, 1_000_000),
      // The subscribers as one shared subscription group: each message to one of them [MQTT-4.8.2].
      shared: num(f, 'shared', 0, 0, 1) === 1
    }
  },
  async run (ctx: Context, o: FanoutOptions): Promise<RunResult> {
    const workerPids: number[] = []
    const subs: MqttClient[] = []
    const latencies: number[] = []
    let received = 0
    let lastRx = 0
    let firstRx = 0
    try {
      await pool(Array.from({ length: o.subscribers }, (_, i) => i), 20, async (i) => {
        const c = await client(ctx.target.url, { clientId: `bench-fanout-sub-${process.pid}-${i}` })
        subs.push(c)
        c.on('message', (_t, payload) => {
          const now = nowMs()
          const s = readStamp(payload)
          if (s === null) return
          received++
          if (firstRx === 0) firstRx = now
          lastRx = now
          latencies.push(now - s.sentAt)
        })
        await c.subscribeAsync(o.shared ? '$share/bench/bench/fanout' : 'bench/fanout', { qos: o.qos })
      })
      const monitor = new Monitor({ brokerPids: () => ctx.target.pids(), workerPids: () => workerPids }).begin()
      const progress = setInterval(() => ctx.progress(`fanout ${ctx.target.name} rep ${ctx.rep}: ${received} delivered`), 2000)
      const started = nowMs()
      try {
        const pub = await runPublishersSpread({
          url: ctx.target.url, first: 0, count: 1, topicTemplate: 'bench/fanout', qos: o.qos, payloadBytes: o.payload,
          rate: o.rate, durationMs: o.durationMs, window: 64, maxPerPublisher: o.maxMessages
        }, Math.min(ctx.workers, 1), (pids) => workerPids.push(...pids))
        const expected = pub.sent * (o.shared ? 1 : o.subscribers)
        const drainEnd = Date.now() + 5000
        while (received < expected && Date.now() < drainEnd) {
          const before = received
          await sleep(500)
          if (received === before) break
        }
        const selfCheck = monitor.finish()
        const lat = summarizeLatencies(latencies)
        return {
          scenario: 'fanout', target: ctx.target.name, rep: ctx.rep, params: { ...o, workers: ctx.workers },
          metrics: {
            sent: pub.sent, received, rxRate: firstRx > 0 ? rate(Math.max(0, received - 1), lastRx - firstRx) : 0,
            lossPct: expected > 0 ? 100 * Math.max(0, expected - received) / expected : 0,
            p50: lat.p50, p99: lat.p99, maxLatency: lat.max
          },
          latencies, selfCheck, notes: []
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
