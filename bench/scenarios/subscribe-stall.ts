/**
 * subscribe-stall (issue 15): the broker holds R retained messages; one
 * client sends a SUBSCRIBE of F filters that match nothing (`nomatch/<i>/+`,
 * the last one `stall/barrier`, which matches one retained message) while an
 * innocent client does a QoS 1 round trip every --interval ms. Reports the
 * innocent client's worst and p99 round trip from the SUBSCRIBE until the
 * barrier's retained message has arrived and one more second has passed, the
 * SUBACK time and the lookup time (SUBSCRIBE sent -> barrier received). A
 * lookup that scans the whole store for every filter holds the event loop for
 * filters x retained; one that walks an index by topic level does not.
 */
import { Monitor } from '../self-check.js'
import { percentile } from '../stats.js'
import { client, endAll, nowMs, num, sleep, until, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface SubscribeStallOptions { retained: number, filters: number, interval: number, payload: number, timeoutMs: number }

/** Published retained messages in flight at once while filling the store. */
const STORE_WINDOW = 500
/** Between filling the store and the SUBSCRIBE. */
const SETTLE_MS = 2000
/** Round trips kept after the lookup ended, to catch a stall that outlasts it. */
const TAIL_MS = 1000

export const subscribeStall: Scenario<SubscribeStallOptions> = {
  name: 'subscribe-stall',
  describe: 'R retained: a SUBSCRIBE of F non-matching filters vs an innocent client\'s QoS 1 round trips',
  metrics: [
    { key: 'worstRttMs', label: 'innocent worst RTT', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'p99RttMs', label: 'innocent p99 RTT', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'subackMs', label: 'SUBACK', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'lookupMs', label: 'lookup (to barrier)', unit: 'ms', better: 'lower', digits: 1 }
  ],
  parse (f: Flags) {
    return {
      retained: num(f, 'retained', 20_000, 1, 200_000),
      filters: num(f, 'filters', 1000, 2, 10_000),
      interval: num(f, 'interval', 20, 1, 1000),
      payload: num(f, 'payload', 64, 1, 64 * 1024),
      timeoutMs: num(f, 'timeout', 120, 1, 600) * 1000
    }
  },
  async run (ctx: Context, o: SubscribeStallOptions): Promise<RunResult> {
    const id = `${process.pid}-${ctx.rep}`
    const pub = await client(ctx.target.url, { clientId: `bench-stall-pub-${id}` })
    const clients = [pub]
    try {
      // The store: R retained messages one level deep per device, like `$liveness/<id>`
      // (clients may not publish there on Vigil, so a plain prefix stands in).
      const payload = Buffer.alloc(o.payload, 0x61)
      const s0 = nowMs()
      await new Promise<void>((resolve, reject) => {
        let next = 0
        let acked = 0
        const total = o.retained + 1
        const send = (): void => {
          while (next < total && next - acked < STORE_WINDOW) {
            const i = next++
            const topic = i === o.retained ? 'stall/barrier' : `fleet-status/device-${i}`
            pub.publish(topic, payload, { qos: 1, retain: true }, (err) => {
              if (err !== undefined && err !== null) { reject(err); return }
              if (++acked === total) resolve()
              else send()
            })
          }
        }
        send()
      })
      ctx.progress(`subscribe-stall ${ctx.target.name} rep ${ctx.rep}: ${o.retained} retained stored in ${(nowMs() - s0).toFixed(0)} ms`)

      // No keepalive: a stall of more than 1.5 keepalives would make mqtt.js drop the connection
      // mid-measurement; the round trips are what is measured.
      const innocent = await client(ctx.target.url, { clientId: `bench-stall-innocent-${id}`, keepalive: 0 })
      clients.push(innocent)
      const attacker = await client(ctx.target.url, { clientId: `bench-stall-attacker-${id}`, keepalive: 0 })
      clients.push(attacker)
      const rtts: Array<{ sentAt: number, ms: number }> = []
      let probing = true
      let probeError: string | null = null
      const probes = (async () => {
        while (probing) {
          const sentAt = nowMs()
          try {
            await innocent.publishAsync('stall/innocent', payload, { qos: 1 })
          } catch (err) {
            probeError = (err as Error).message
            return
          }
          const ms = nowMs() - sentAt
          rtts.push({ sentAt, ms })
          if (ms < o.interval) await sleep(o.interval - ms)
        }
      })()
      // Settle: work the store left behind (Vigil records store times without
      // waiting) drains, and a few round trips pass before the SUBSCRIBE.
      await sleep(SETTLE_MS)

      const monitor = new Monitor({ brokerPids: () => ctx.target.pids() }).begin()
      let barrierAt = 0
      attacker.on('message', (topic) => { if (topic === 'stall/barrier' && barrierAt === 0) barrierAt = nowMs() })
      const filters = Array.from({ length: o.filters - 1 }, (_, i) => `nomatch/${i}/+`)
      filters.push('stall/barrier')
      const t0 = nowMs()
      let subackAt = 0
      attacker.subscribe(filters, { qos: 0 }, () => { subackAt = nowMs() })
      const done = await until(() => barrierAt !== 0, o.timeoutMs)
      await sleep(TAIL_MS)
      probing = false
      await probes
      const selfCheck = monitor.finish()
      const during = rtts.filter((r) => r.sentAt + r.ms >= t0).map((r) => r.ms)
      return {
        scenario: 'subscribe-stall',
        target: ctx.target.name,
        rep: ctx.rep,
        params: { ...o },
        metrics: {
          worstRttMs: during.length > 0 ? Math.max(...during) : NaN,
          p99RttMs: percentile(during, 99),
          subackMs: subackAt !== 0 ? subackAt - t0 : NaN,
          lookupMs: done ? barrierAt - t0 : NaN,
          probes: during.length
        },
        latencies: during,
        selfCheck,
        notes: [
          ...done ? [] : [`the barrier's retained message did not arrive within ${o.timeoutMs} ms`],
          ...probeError === null ? [] : [`the innocent client's round trips failed: ${probeError as string}`]
        ]
      }
    } finally {
      await endAll(clients)
    }
  }
}
