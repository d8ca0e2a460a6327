/**
 * Benchmark (not a test): the liveness core with 100,000 simulated clients.
 * Reports ns per heartbeat, the cost of the sweep in a steady fleet (as CPU %
 * of one core at the broker's 250 ms sweep period), and memory per client.
 * Virtual time: the core takes `now`, so ten minutes of fleet life run in a
 * second. Prints medians with min/max over several repetitions.
 *
 *   npx tsc -p tsconfig.json && node --expose-gc dist/bench/liveness-core.js [clients] [reps]
 */
import { Conn, LivenessCore, type Decision } from '../plugins/liveness/core.js'

const CLIENTS = Number(process.argv[2] ?? 100_000)
const REPS = Number(process.argv[3] ?? 5)
const SWEEP_MS = 250
const SILENT_AFTER = 90_000
const HEARTBEAT_EVERY = 30_000
const T0 = 1_763_700_000_000

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const stats = (values: number[]): string => {
  const sorted = [...values].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  const fmt = (v: number): string => v < 10 ? v.toFixed(3) : v < 1000 ? v.toFixed(1) : v.toFixed(0)
  return `median ${fmt(median)} (min ${fmt(sorted[0]!)}, max ${fmt(sorted.at(-1)!)})`
}

interface Rep { nsPerHeartbeat: number, nsPerHeartbeatSequential: number, sweepUsPerTick: number, sweepCpuPercent: number, visitedPerTick: number,
  silentDetected: number, maxLatenessMs: number, bytesPerClient: number, rssMiB: number }

function rep (): Rep {
  gc()
  const heapBefore = process.memoryUsage().heapUsed
  const core = new LivenessCore({ kickSilentAfter: null, resolutionMs: SWEEP_MS }, T0)
  const conns: Conn[] = new Array(CLIENTS)
  for (let i = 0; i < CLIENTS; i++) {
    // connects spread over one heartbeat period, so deadlines are spread too
    const at = T0 + Math.floor((i / CLIENTS) * HEARTBEAT_EVERY)
    const conn = new Conn(`sensor-${i}`, 1, at, SILENT_AFTER, false)
    core.open(conn, at)
    conns[i] = conn
  }
  gc()
  const bytesPerClient = (process.memoryUsage().heapUsed - heapBefore) / CLIENTS
  const rssMiB = process.memoryUsage().rss / 2 ** 20

  // 1. Heartbeat cost: each client heartbeats in a shuffled order, timestamps moving forward.
  const order = new Uint32Array(CLIENTS)
  for (let i = 0; i < CLIENTS; i++) order[i] = i
  for (let i = CLIENTS - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); const x = order[i]!; order[i] = order[j]!; order[j] = x }
  const rounds = 20
  let now = T0 + HEARTBEAT_EVERY
  const started = process.hrtime.bigint()
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < CLIENTS; k++) core.heartbeat(conns[order[k]!]!, now + (k >> 10))
  }
  const nsPerHeartbeat = Number(process.hrtime.bigint() - started) / (rounds * CLIENTS)
  // the same in connection order (cache-friendly): the difference is memory latency, not work
  now += 1000
  const startedSeq = process.hrtime.bigint()
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < CLIENTS; k++) core.heartbeat(conns[k]!, now + (k >> 10))
  }
  const nsPerHeartbeatSequential = Number(process.hrtime.bigint() - startedSeq) / (rounds * CLIENTS)

  // 2. Steady fleet for 10 virtual minutes: every client heartbeats every 30 s,
  //    except 1% that stop (they must be detected); sweep every 250 ms.
  const frozen = new Set<number>()
  for (let i = 0; i < CLIENTS; i += 100) frozen.add(i)
  const out: Decision[] = []
  let sweepNs = 0n
  let ticks = 0
  let visited = 0
  let silent = 0
  let lateness = 0
  // after the heartbeat phases above (their timestamps end near now + 100 ms)
  const begin = now + 1000 + HEARTBEAT_EVERY
  const end = begin + 10 * 60_000
  let next = 0
  for (now = begin; now < end; now += SWEEP_MS) {
    // the heartbeats that fall in this tick
    const due = Math.floor(((now - begin) / HEARTBEAT_EVERY) * CLIENTS)
    for (; next < due; next++) {
      const i = next % CLIENTS
      if (!frozen.has(i)) core.heartbeat(conns[i]!, now)
    }
    out.length = 0
    const t = process.hrtime.bigint()
    visited += core.sweep(now, out)
    sweepNs += process.hrtime.bigint() - t
    ticks++
    silent += out.length
    for (const d of out) if ('conn' in d) lateness = Math.max(lateness, now - d.conn.silentAt)
  }
  const sweepUs = Number(sweepNs) / 1000 / ticks
  return {
    nsPerHeartbeat,
    nsPerHeartbeatSequential,
    sweepUsPerTick: sweepUs,
    sweepCpuPercent: (sweepUs / 1000) / SWEEP_MS * 100,
    visitedPerTick: visited / ticks,
    silentDetected: silent,
    maxLatenessMs: lateness,
    bytesPerClient,
    rssMiB
  }
}

const reps: Rep[] = []
rep() // warm-up
for (let i = 0; i < REPS; i++) reps.push(rep())
const pick = (key: keyof Rep): number[] => reps.map((r) => r[key])
console.log(`liveness core, ${CLIENTS} clients, silentAfter ${SILENT_AFTER / 1000} s, heartbeat every ${HEARTBEAT_EVERY / 1000} s, ` +
  `sweep every ${SWEEP_MS} ms, ${REPS} repetitions (node ${process.version})`)
console.log(`  heartbeat (random):   ${stats(pick('nsPerHeartbeat'))} ns`)
console.log(`  heartbeat (in order): ${stats(pick('nsPerHeartbeatSequential'))} ns`)
console.log(`  sweep per tick:       ${stats(pick('sweepUsPerTick'))} us, visiting ${stats(pick('visitedPerTick'))} clients`)
console.log(`  sweep CPU:            ${stats(pick('sweepCpuPercent'))} % of one core`)
console.log(`  silent detected:      ${stats(pick('silentDetected'))} of ${Math.ceil(CLIENTS / 100)} frozen`)
console.log(`  detection lateness:   ${stats(pick('maxLatenessMs'))} ms after the deadline (worst client)`)
console.log(`  heap per client:      ${stats(pick('bytesPerClient'))} bytes (core Conn + wheel)`)
console.log(`  process RSS:          ${stats(pick('rssMiB'))} MiB`)
