/**
 * What metrics cost (issue 6), in one run of about 30-60 s:
 *  1. /metrics scrape time with 100,000 clients tracked by the liveness fleet
 *     view (fed as other nodes' status messages, the way a cluster feeds it),
 *     plus `liveSockets` real MQTT connections whose bytes are summed at scrape
 *     time; GET /api/devices over the same fleet.
 *  2. The byte tally's scrape-time loop over 100,000 socket-like objects (the
 *     cost a node holding 100,000 live connections pays per scrape).
 *  3. QoS 0 fan-in throughput with the metrics plugin on vs off, rounds
 *     alternated on two brokers in one process: median/min/max and the ratio.
 * Prints medians with min/max; asserts nothing about speed.
 *
 *   npm run build && node dist/bench/metrics-overhead.js [--tracked 100000] [--rounds 5]
 */
import { performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { createVigil, type Vigil } from '../broker/server.js'
import type { VigilPlugin } from '../broker/plugin-types.js'
import { parseConfig } from '../config/load.js'
import { defaultPlugins } from '../plugins/index.js'
import { ByteTally } from '../plugins/metrics/byte-tally.js'

const args = process.argv.slice(2)
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const TRACKED = arg('tracked', 100_000)
const LIVE_SOCKETS = arg('live', 500)
const ROUNDS = arg('rounds', 5)
const PUBLISHERS = arg('publishers', 10)
const PER_PUBLISHER = arg('messages', 3000)
const SCRAPES = 7

interface Spread { median: number, min: number, max: number }
function spread (values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}
const fmt = (s: Spread, digits = 1): string => `${s.median.toFixed(digits)} (min ${s.min.toFixed(digits)}, max ${s.max.toFixed(digits)})`

let nodeCounter = 0
async function startVigil (plugins: readonly VigilPlugin<any>[]): Promise<Vigil> {
  const config = parseConfig({
    node: { id: `bench-metrics-${process.pid}-${++nodeCounter}` },
    mqtt: { port: 0, ws: null },
    http: null,
    log: { level: 'silent' }
  })
  const vigil = createVigil(config, { plugins })
  await vigil.start()
  return vigil
}

async function connect (port: number, clientId: string): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 0, protocolVersion: 4, keepalive: 0 })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  return client
}

async function timed<T> (fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now()
  const value = await fn()
  return [performance.now() - started, value]
}

/** Feed the fleet view as a cluster would: status messages of clients held by another node. */
async function feedFleet (vigil: Vigil, count: number): Promise<void> {
  const states = ['online', 'online', 'online', 'silent', 'offline'] as const
  const now = Date.now()
  for (let i = 0; i < count; i++) {
    const state = states[i % states.length]!
    const payload = Buffer.from(JSON.stringify({
      clientId: `fleet-${i}`, state, since: now, connectedAt: now - 60_000, lastHeartbeat: now - 1000, lastPacket: now - 500,
      reason: state === 'offline' ? 'connection_lost' : null, epoch: 1, node: 'bench-remote'
    }))
    await new Promise<void>((resolve) => vigil.broker.publish({ cmd: 'publish', topic: `$liveness/fleet-${i}`, payload, qos: 0, retain: false, dup: false } as never, () => resolve()))
  }
}

async function scrapeBench (): Promise<Record<string, unknown>> {
  const vigil = await startVigil(defaultPlugins)
  try {
    const liveness = vigil.services.need('liveness')
    const [feedMs] = await timed(() => feedFleet(vigil, TRACKED))
    const clients: MqttClient[] = []
    for (let i = 0; i < LIVE_SOCKETS; i++) clients.push(await connect(vigil.ports.mqtt, `live-${i}`))
    const tracked = Object.values(liveness.counts()).reduce((a, b) => a + b, 0)
    const scrapes: number[] = []
    let bytes = 0
    for (let i = 0; i < SCRAPES; i++) {
      const [ms, res] = await timed(() => vigil.http.inject({ url: '/metrics' }))
      scrapes.push(ms)
      bytes = res.body.length
    }
    const lists: number[] = []
    let listBytes = 0
    for (let i = 0; i < 3; i++) {
      const [ms, res] = await timed(() => vigil.http.inject({ url: '/api/devices' }))
      lists.push(ms)
      listBytes = res.body.length
    }
    await Promise.all(clients.map((c) => c.endAsync()))
    return { tracked, liveSockets: LIVE_SOCKETS, feedMs, scrapeMs: spread(scrapes), scrapeBytes: bytes, listMs: spread(lists), listBytes }
  } finally {
    await vigil.close()
  }
}

function tallyBench (): Spread {
  const tally = new ByteTally()
  for (let i = 0; i < TRACKED; i++) tally.track({ bytesRead: i, bytesWritten: 2 * i, on: () => undefined })
  const times: number[] = []
  for (let i = 0; i < SCRAPES; i++) {
    const started = performance.now()
    tally.totals()
    tally.totals()
    times.push(performance.now() - started)
  }
  return spread(times)
}

/** One round: every publisher sends its share at QoS 0; time until the subscriber has them all. */
async function fanInRound (port: number, round: number): Promise<number> {
  const total = PUBLISHERS * PER_PUBLISHER
  const sub = await connect(port, `fan-sub-${round}`)
  await sub.subscribeAsync('fan/#', { qos: 0 })
  const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => connect(port, `fan-pub-${round}-${i}`)))
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fan-in: ${received}/${total} after 30 s`)), 30_000)
    sub.on('message', () => { if (++received === total) { clearTimeout(timer); resolve() } })
  })
  const payload = Buffer.alloc(64, 1)
  const started = performance.now()
  for (let i = 0; i < PER_PUBLISHER; i++) {
    for (let p = 0; p < PUBLISHERS; p++) pubs[p]!.publish(`fan/${p}`, payload, { qos: 0 })
    // Yield now and then so the sockets drain instead of buffering the whole run.
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve))
  }
  await done
  const ms = performance.now() - started
  await Promise.all([sub, ...pubs].map((c) => c.endAsync()))
  return total / (ms / 1000)
}

async function fanInBench (): Promise<Record<string, unknown>> {
  const withoutMetrics = defaultPlugins.filter((p) => p.name !== 'metrics')
  const on = await startVigil(defaultPlugins)
  const off = await startVigil(withoutMetrics)
  try {
    // One warm-up round each, not counted.
    await fanInRound(off.ports.mqtt, -1)
    await fanInRound(on.ports.mqtt, -2)
    const rates = { on: [] as number[], off: [] as number[] }
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first so drift on a shared machine hits both.
      const order = r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)
      for (const mode of order) rates[mode].push(await fanInRound((mode === 'on' ? on : off).ports.mqtt, r))
    }
    const onS = spread(rates.on)
    const offS = spread(rates.off)
    return { messagesPerRound: PUBLISHERS * PER_PUBLISHER, publishers: PUBLISHERS, on: onS, off: offS, ratio: onS.median / offS.median }
  } finally {
    await on.close()
    await off.close()
  }
}

async function main (): Promise<void> {
  const started = performance.now()
  const scrape = await scrapeBench()
  const tally = tallyBench()
  const fanIn = await fanInBench()
  const s = scrape as { tracked: number, liveSockets: number, feedMs: number, scrapeMs: Spread, scrapeBytes: number, listMs: Spread, listBytes: number }
  const f = fanIn as { messagesPerRound: number, publishers: number, on: Spread, off: Spread, ratio: number }
  process.stdout.write([
    `metrics-overhead (node ${process.version}, ${ROUNDS} rounds, ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    `fleet view: ${s.tracked} tracked clients (fed in ${(s.feedMs / 1000).toFixed(1)} s) + ${s.liveSockets} live MQTT connections`,
    `GET /metrics: ${fmt(s.scrapeMs, 2)} ms over ${SCRAPES} scrapes, ${s.scrapeBytes} bytes`,
    `GET /api/devices (${s.tracked} devices): ${fmt(s.listMs, 0)} ms, ${(s.listBytes / 1e6).toFixed(1)} MB`,
    `byte tally over ${TRACKED} sockets (both counters): ${fmt(tally, 2)} ms`,
    `QoS 0 fan-in, ${f.publishers} publishers -> 1 subscriber, ${f.messagesPerRound} msgs/round (msg/s):`,
    `  metrics off: ${fmt(f.off, 0)}`,
    `  metrics on:  ${fmt(f.on, 0)}`,
    `  ratio on/off (medians): ${f.ratio.toFixed(3)}`,
    ''
  ].join('\n'))
}

main().catch((err) => {
  process.stderr.write(`metrics-overhead failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
