/**
 * Retained lifecycle benchmark (issue 5): 100,000 retained messages under an
 * expire rule, 1% of them due at each sweep. Reports the time of each sweep
 * (median, min, max) and the largest event-loop stall while sweeping
 * (perf_hooks.monitorEventLoopDelay). A real broker (default plugins) with an
 * injected clock: the clock moves one group of 1,000 messages into the past
 * after each sweep, so each sweep finds exactly 1% due. Never asserts speed.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/retained-sweep.js [--redis] [--messages N] [--sweeps N]
 *
 * --redis starts a private redis-server (from PATH) on a free port and uses Redis mode.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createVigil } from '../broker/server.js'
import { parseConfig } from '../config/load.js'
import { defaultPlugins } from '../plugins/index.js'
import { retainedPlugin, type SweepResult } from '../plugins/retained/index.js'

const { values: args } = parseArgs({
  options: {
    redis: { type: 'boolean', default: false },
    messages: { type: 'string', default: '100000' },
    sweeps: { type: 'string', default: '20' }
  }
})
const MESSAGES = Number(args.messages)
const SWEEPS = Number(args.sweeps)
const GROUPS = 100 // 1% per group
const STEP = 1000 // fake ms between groups' store times
const MAX_AGE = 3_600_000
const SWEEP_INTERVAL = 250

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function startRedisServer (): Promise<{ url: string, child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' })
  await new Promise((resolve) => setTimeout(resolve, 300))
  return { url: `redis://127.0.0.1:${port}`, child }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (ms: number): string => ms.toFixed(1)

async function main (): Promise<void> {
  const redis = args.redis ? await startRedisServer() : null
  const base = Date.now()
  let clock = base
  const sweeps: SweepResult[] = []
  let onSweep: (r: SweepResult) => void = () => {}
  const plugins = defaultPlugins.map((p) => p.name === 'retained' ? retainedPlugin({ onSweep: (r) => onSweep(r) }) : p)
  const vigil = createVigil(parseConfig({
    node: { id: 'bench-retained' },
    mqtt: { port: 0, ws: null },
    http: null,
    persistence: { redis: redis?.url ?? null },
    retained: { expire: [{ topic: 'fleet/#', maxAge: MAX_AGE / 1000 }], sweepInterval: `${SWEEP_INTERVAL}ms` },
    log: { level: 'warn' }
  }), { plugins, now: () => clock })
  await vigil.start()
  const broker = vigil.broker

  // Load: group g (i % 100) is stored at base + g * STEP; the store time is read
  // in Aedes' published hook, after the store, so each group is awaited whole.
  const loadStarted = performance.now()
  for (let g = 0; g < GROUPS; g++) {
    clock = base + g * STEP
    const pending: Array<Promise<void>> = []
    for (let i = g; i < MESSAGES; i += GROUPS) {
      pending.push(new Promise((resolve, reject) => broker.publish({
        cmd: 'publish', topic: `fleet/dev-${i}/status`, payload: Buffer.from(`{"state":"online","n":${i}}`),
        qos: 0, retain: true, dup: false
      }, (err) => err ? reject(err) : resolve())))
    }
    await Promise.all(pending)
  }
  const loadMs = performance.now() - loadStarted
  await new Promise((resolve) => setTimeout(resolve, 500))
  const gauge = async (): Promise<number> => (await vigil.metrics.getSingleMetric('vigil_retained_messages')!.get()).values[0]!.value

  // Baseline: the same loaded broker, sweeping with nothing due, on the same
  // (shared) machine: how much of the stall is the machine's own noise.
  const idle = monitorEventLoopDelay({ resolution: 1 })
  idle.enable()
  await new Promise((resolve) => setTimeout(resolve, 2000))
  idle.disable()

  // Sweeps: after each sweep, move the clock so the next group is due.
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let group = 0
  clock = base + MAX_AGE + group * STEP
  const done = new Promise<void>((resolve) => {
    onSweep = (result) => {
      if (result.expired === 0) return // a sweep that started before the clock moved
      sweeps.push(result)
      if (sweeps.length >= SWEEPS) { onSweep = () => {}; resolve(); return }
      clock = base + MAX_AGE + ++group * STEP
    }
  })
  const heldBefore = await gauge()
  histogram.enable()
  const sweepStarted = performance.now()
  await done
  histogram.disable()
  const sweepWall = performance.now() - sweepStarted
  const heldAfter = await gauge()

  const ms = sweeps.map((s) => s.ms)
  const expired = sweeps.map((s) => s.expired)
  const report = {
    mode: redis !== null ? 'redis' : 'memory',
    machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    messages: MESSAGES,
    loadSeconds: +(loadMs / 1000).toFixed(1),
    sweeps: sweeps.length,
    expiredPerSweep: { median: median(expired), min: Math.min(...expired), max: Math.max(...expired) },
    sweepMs: { median: +fmt(median(ms)), min: +fmt(Math.min(...ms)), max: +fmt(Math.max(...ms)) },
    batchesPerSweep: median(sweeps.map((s) => s.batches)),
    eventLoopDelayMs: { max: +fmt(histogram.max / 1e6), p99: +fmt(histogram.percentile(99) / 1e6), mean: +fmt(histogram.mean / 1e6) },
    idleBaselineDelayMs: { max: +fmt(idle.max / 1e6), p99: +fmt(idle.percentile(99) / 1e6) },
    retainedGauge: { before: heldBefore, after: heldAfter },
    sweepPhaseSeconds: +(sweepWall / 1000).toFixed(1)
  }
  console.log(JSON.stringify(report, null, 2))
  await vigil.close()
  redis?.child.kill('SIGKILL')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
