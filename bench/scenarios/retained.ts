/**
 * retained: K retained messages stored, then a fresh wildcard subscriber's time
 * to receive all of them (from SUBSCRIBE sent to the K-th message).
 */
import { Monitor } from '../self-check.js'
import { rate } from '../stats.js'
import { client, endAll, nowMs, num, qosFlag, until, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface RetainedOptions { messages: number, payload: number, qos: 0 | 1 | 2, timeoutMs: number }

export const retained: Scenario<RetainedOptions> = {
  name: 'retained',
  describe: 'K retained messages: a fresh wildcard subscriber\'s time to receive all',
  metrics: [
    { key: 'timeToAllMs', label: 'time to all', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'deliveryRate', label: 'retained delivery', unit: 'msg/s', better: 'higher', digits: 0 },
    { key: 'storeRate', label: 'store', unit: 'msg/s', better: 'higher', digits: 0 }
  ],
  parse (f: Flags) {
    return {
      messages: num(f, 'messages', 10_000, 1, 200_000),
      payload: num(f, 'payload', 64, 1, 64 * 1024),
      qos: qosFlag(f, 1),
      timeoutMs: num(f, 'timeout', 60, 1, 120) * 1000
    }
  },
  async run (ctx: Context, o: RetainedOptions): Promise<RunResult> {
    const pub = await client(ctx.target.url, { clientId: `bench-ret-pub-${process.pid}` })
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids() }).begin()
    let sub: Awaited<ReturnType<typeof client>> | null = null
    try {
      const payload = Buffer.alloc(o.payload, 0x61)
      const t0 = nowMs()
      // QoS 1 stores so the broker has acknowledged every one before the subscriber arrives.
      let acked = 0
      await new Promise<void>((resolve, reject) => {
        let next = 0
        const send = (): void => {
          while (next < o.messages && next - acked < 200) {
            const i = next++
            pub.publish(`bench/retained/${Math.floor(i / 100)}/${i}`, payload, { qos: 1, retain: true }, (err) => {
              if (err !== undefined && err !== null) { reject(err); return }
              acked++
              if (acked === o.messages) resolve()
              else send()
            })
          }
        }
        send()
      })
      const storeMs = nowMs() - t0
      ctx.progress(`retained ${ctx.target.name} rep ${ctx.rep}: ${o.messages} stored in ${storeMs.toFixed(0)} ms`)
      sub = await client(ctx.target.url, { clientId: `bench-ret-sub-${process.pid}` })
      let got = 0
      let lastAt = 0
      sub.on('message', (_t, _p, packet) => { if (packet.retain) { got++; lastAt = nowMs() } })
      const s0 = nowMs()
      sub.subscribe('bench/retained/#', { qos: o.qos })
      const all = await until(() => got >= o.messages, o.timeoutMs)
      const timeToAll = all ? lastAt - s0 : NaN
      const selfCheck = monitor.finish()
      return {
        scenario: 'retained', target: ctx.target.name, rep: ctx.rep, params: { ...o },
        metrics: { stored: o.messages, received: got, timeToAllMs: timeToAll, deliveryRate: rate(got, (lastAt || nowMs()) - s0), storeRate: rate(o.messages, storeMs) },
        selfCheck, notes: all ? [] : [`only ${got}/${o.messages} retained messages within ${o.timeoutMs} ms`]
      }
    } finally {
      monitor.finish()
      await endAll(sub !== null ? [pub, sub] : [pub])
    }
  }
}
