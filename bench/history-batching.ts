/**
 * Benchmark (not a test): how many history transitions per second one node
 * writes to Redis with 10,000 devices flapping (issue 18), batched as the
 * insights plugin does it (plugins/insights/history-redis.ts: one pipeline per
 * 250 ms tick, per device one RPUSH of its new transitions + LTRIM + PEXPIRE),
 * against the same writes sent one transition at a time (RPUSH + LTRIM +
 * PEXPIRE per transition, every command in flight at once: ioredis pipelines
 * them on the socket, so this is the best unbatched case, not a round trip each).
 *
 * Starts its own redis-server on a free loopback port (no disk), so it never
 * touches a Redis it did not start.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/history-batching.js [devices=10000] [transitionsPerDevice=100] [runs=3]
 */
import { spawn } from 'node:child_process'
import { freePort } from './targets.js'
import { Redis } from 'ioredis'
import { TICK_MS } from '../plugins/insights/adapter.js'
import { HISTORY_MAX_TRANSITIONS, type HistoryEntry } from '../plugins/insights/availability.js'
import { historyKey, RedisHistory } from '../plugins/insights/history-redis.js'

const DEVICES = Number(process.argv[2] ?? 10_000)
const PER_DEVICE = Number(process.argv[3] ?? 100)
const RUNS = Number(process.argv[4] ?? 3)
/** Transitions produced per producer step, then the event loop is yielded (a broker's packets arrive in such bursts). */
const STEP = 2000
/** The producer waits while this many are queued: the writer's queue is bounded (MAX_PENDING) and would drop beyond it. */
const BACKLOG = 100_000
const EXPIRE_MS = 30 * 86_400_000

const port = await freePort()
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
// However this process ends (a thrown error included), its redis-server goes with it.
process.on('exit', () => { server.kill('SIGKILL') })
/** Connect once redis-server answers (it takes a moment to listen). */
async function connectRedis (): Promise<Redis> {
  for (let i = 0; ; i++) {
    const conn = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    conn.on('error', () => {})
    try {
      await conn.connect()
      await conn.ping()
      return conn
    } catch (err) {
      conn.disconnect()
      if (i > 50) throw err
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}
const redis = await connectRedis()

const ids = Array.from({ length: DEVICES }, (_, i) => `flap-${String(i).padStart(5, '0')}`)
/** The k-th transition of a flapping device: online, offline, online, ... one epoch per connect. */
const entryOf = (k: number, at: number): HistoryEntry =>
  ({ state: k % 2 === 0 ? 'online' : 'offline', reason: k % 2 === 0 ? null : 'connection_lost', at, epoch: (k >> 1) + 1, node: 'bench' })
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

interface Result { perSecond: number, cpuUsPerTransition: number, batches: number }

async function batched (): Promise<Result> {
  let failure: unknown = null
  const history = new RedisHistory({ redis, expireMs: EXPIRE_MS, onError: (err) => { failure ??= err } })
  const timer = setInterval(() => { void history.flush() }, TICK_MS)
  const total = DEVICES * PER_DEVICE
  const started = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  let produced = 0
  const now = Date.now()
  for (let k = 0; k < PER_DEVICE; k++) {
    for (const id of ids) {
      history.record(id, entryOf(k, now + k))
      if (++produced % STEP === 0) {
        await yieldLoop()
        while (history.pending > BACKLOG) await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
  }
  while (history.written < total && failure === null) await new Promise((resolve) => setTimeout(resolve, 5))
  if (failure !== null) throw failure
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const used = process.cpuUsage(cpu)
  clearInterval(timer)
  return { perSecond: total / seconds, cpuUsPerTransition: (used.user + used.system) / total, batches: history.batches }
}

async function oneByOne (): Promise<Result> {
  const total = DEVICES * PER_DEVICE
  const started = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  const now = Date.now()
  let inFlight: Array<Promise<unknown>> = []
  let produced = 0
  for (let k = 0; k < PER_DEVICE; k++) {
    for (const id of ids) {
      const key = historyKey(id)
      inFlight.push(redis.rpush(key, JSON.stringify(entryOf(k, now + k))), redis.ltrim(key, -HISTORY_MAX_TRANSITIONS, -1), redis.pexpire(key, EXPIRE_MS))
      if (++produced % STEP === 0) {
        await Promise.all(inFlight)
        inFlight = []
      }
    }
  }
  await Promise.all(inFlight)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const used = process.cpuUsage(cpu)
  return { perSecond: total / seconds, cpuUsPerTransition: (used.user + used.system) / total, batches: 0 }
}

const fmt = (v: number, digits = 0): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const line = (name: string, results: Result[]): void => {
  const rates = results.map((r) => r.perSecond)
  console.log(`  ${name}: median ${fmt(median(rates))} transitions/s (min ${fmt(Math.min(...rates))}, max ${fmt(Math.max(...rates))}); ` +
    `node CPU ${fmt(median(results.map((r) => r.cpuUsPerTransition)), 2)} us/transition` +
    (results[0]!.batches > 0 ? `; ${fmt(median(results.map((r) => r.batches)))} pipelines` : ''))
}

try {
  const a: Result[] = []
  const b: Result[] = []
  for (let run = 0; run < RUNS; run++) {
    await redis.flushdb()
    a.push(await batched())
    const lengths = await Promise.all([ids[0]!, ids.at(-1)!].map((id) => redis.llen(historyKey(id))))
    if (lengths.some((n) => n !== Math.min(PER_DEVICE, HISTORY_MAX_TRANSITIONS))) throw new Error(`lists hold ${lengths.join(', ')} entries`)
    await redis.flushdb()
    b.push(await oneByOne())
  }
  console.log(`History writes to Redis, ${fmt(DEVICES)} devices flapping, ${PER_DEVICE} transitions each (${fmt(DEVICES * PER_DEVICE)} per run), ` +
    `${RUNS} runs, producer yielding every ${STEP}, waiting above ${fmt(BACKLOG)} queued (node ${process.version}, local redis-server)`)
  line(`batched (one pipeline per ${TICK_MS} ms tick)`, a)
  line('one transition at a time (3 commands each)', b)
  console.log(`  batched / one at a time: ${(median(a.map((r) => r.perSecond)) / median(b.map((r) => r.perSecond))).toFixed(2)} x`)
} finally {
  redis.disconnect()
  server.kill('SIGKILL')
}
