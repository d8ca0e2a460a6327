/**
 * fuzz: N mutated CONNECT/PUBLISH/SUBSCRIBE/... cases (seeded, reproducible)
 * against the broker while a bystander publishes QoS 1 to itself: the broker
 * must survive, the bystander must lose nothing, and RSS is read before,
 * right after, and after a settle pause (an external process cannot be made
 * to collect garbage; the suite's fuzz test checks the heap after a forced GC).
 */
import mqtt from 'mqtt'
import { runFuzz } from '../fuzz-run.js'
import { Monitor } from '../self-check.js'
import { nowMs, num, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface FuzzOptions { cases: number, seed: number, parallelism: number }

export const fuzz: Scenario<FuzzOptions> = {
  name: 'fuzz',
  describe: 'N seeded mutated packets on fresh connections beside a QoS 1 bystander: survival, loss, RSS',
  metrics: [
    { key: 'caseRate', label: 'cases', unit: '/s', better: 'higher', digits: 0 },
    { key: 'bystanderLost', label: 'bystander lost', unit: 'msgs', better: 'lower', digits: 0 },
    { key: 'rssGrowthMiB', label: 'RSS after settle - before', unit: 'MiB', better: 'lower', digits: 1 }
  ],
  parse (f: Flags) {
    return { cases: num(f, 'cases', 100_000, 1, 10_000_000), seed: num(f, 'seed', 14, 0, 2 ** 31), parallelism: num(f, 'parallelism', 32, 1, 1000) }
  },
  async run (ctx: Context, o: FuzzOptions): Promise<RunResult> {
    const url = new URL(ctx.target.url)
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids() })
    const bystander = mqtt.connect(ctx.target.url, { clientId: `bystander-${process.pid}-${ctx.rep}`, reconnectPeriod: 0, protocolVersion: 4 })
    await new Promise<void>((resolve, reject) => { bystander.once('connect', () => resolve()); bystander.once('error', reject) })
    const topic = `bench/bystander/${process.pid}`
    let received = 0
    bystander.on('message', () => { received++ })
    await bystander.subscribeAsync(topic, { qos: 1 })
    let sent = 0
    let stop = false
    const chatter = (async () => {
      while (!stop) {
        await bystander.publishAsync(topic, String(sent), { qos: 1 })
        sent++
        await sleep(20)
      }
    })()
    await sleep(300)
    const rssBefore = monitor.brokerRss()
    monitor.begin()
    const progress = setInterval(() => ctx.progress(`fuzz ${ctx.target.name} rep ${ctx.rep}`), 2000)
    const started = nowMs()
    let tally
    try {
      tally = await runFuzz(url.hostname, Number(url.port || 1883), o.seed + ctx.rep, o.cases, o.parallelism)
    } finally {
      clearInterval(progress)
    }
    const elapsed = nowMs() - started
    const rssAfter = monitor.brokerRss()
    stop = true
    await chatter.catch(() => {})
    await sleep(500)
    const selfCheck = monitor.finish()
    await sleep(3000)
    const rssSettled = monitor.brokerRss()
    const alive = bystander.connected
    bystander.end(true)
    const mib = (v: number | null): number => v !== null ? v / 2 ** 20 : NaN
    return {
      scenario: 'fuzz', target: ctx.target.name, rep: ctx.rep, params: { ...o },
      metrics: {
        cases: tally.cases, caseRate: tally.cases / (elapsed / 1000), closedByBroker: tally.closedByBroker, refused: tally.refused,
        bystanderSent: sent, bystanderLost: sent - received, bystanderConnected: alive ? 1 : 0,
        rssBeforeMiB: mib(rssBefore), rssAfterMiB: mib(rssAfter), rssSettledMiB: mib(rssSettled), rssGrowthMiB: mib(rssSettled) - mib(rssBefore)
      },
      selfCheck,
      notes: [`seed ${o.seed + ctx.rep}`]
    }
  }
}
