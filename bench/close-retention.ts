/**
 * What a broker keeps after its connections close at once (issue 16: `--workers 4` workers stayed
 * at 0.9-1.2 GB RSS after 60,000 sockets closed). One in-process Vigil (memory mode unless
 * --redis URL), raw-socket devices in a forked process (bench/fleet-devices.ts), and per cycle:
 * connect N devices, close them all at once, wait until the broker has no client left, collect
 * garbage, and report the heap against the baseline. A leak grows the heap cycle after cycle with
 * the same device ids; V8 and the allocator keeping freed pages shows as RSS above heapUsed.
 *
 *   node --expose-gc dist/bench/close-retention.js --devices 10000 --cycles 3 [--redis redis://...]
 */
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { createVigil } from '../broker/server.js'
import { parseConfig } from '../config/load.js'
import { liveClients, transportOf } from '../broker/aedes/index.js'
import { FleetDevicesProcess } from './fleet-devices-process.js'
import type { FleetDeviceSpec } from './fleet-devices.js'

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    cycles: { type: 'string', default: '3' },
    redis: { type: 'string' },
    parallelism: { type: 'string', default: '200' }
  }
})
const devices = Number(values.devices)
const cycles = Number(values.cycles)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

const mib = (n: number): string => (n / 1048576).toFixed(1)
async function settle (): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) { gc!(); await sleep(100) }
  return process.memoryUsage()
}
const line = (what: string, m: NodeJS.MemoryUsage, base?: NodeJS.MemoryUsage): string =>
  `${what}: heapUsed ${mib(m.heapUsed)} MiB, heapTotal ${mib(m.heapTotal)}, external ${mib(m.external)}, arrayBuffers ${mib(m.arrayBuffers)}, rss ${mib(m.rss)}` +
  (base !== undefined ? ` (heapUsed +${((m.heapUsed - base.heapUsed) / devices).toFixed(0)} B per device over the baseline)` : '')

const config = parseConfig({
  node: { id: 'close-retention' },
  mqtt: { port: 0, ws: null },
  http: { port: 0 },
  log: { level: 'silent' },
  ...(values.redis !== undefined ? { persistence: { redis: values.redis } } : {})
})
const vigil = createVigil(config)
await vigil.start()
const port = vigil.ports.mqtt
// Every Aedes client and its socket, counted until garbage-collected: after the close and a GC, none should be left.
let clientsAlive = 0
let socketsAlive = 0
const clientsGone = new FinalizationRegistry<string>((kind) => { if (kind === 'client') clientsAlive--; else socketsAlive-- })
vigil.broker.on('client', (client) => {
  clientsAlive++
  clientsGone.register(client, 'client')
  const conn = transportOf(client)
  if (typeof conn === 'object' && conn !== null) { socketsAlive++; clientsGone.register(conn, 'socket') }
})
const fleet = new FleetDevicesProcess()
const spec = (i: number): FleetDeviceSpec => ({
  role: 'healthy',
  index: i,
  options: { id: `close-${i}`, host: '127.0.0.1', port, keepalive: 60, heartbeatMs: 15_000, jitter: 0.1, telemetry: false }
})

async function cycle (n: number): Promise<{ connected: NodeJS.MemoryUsage, closed: NodeJS.MemoryUsage }> {
  const started = Date.now()
  await fleet.request({ type: 'connect', devices: Array.from({ length: n }, (_, i) => spec(i)), parallelism: Number(values.parallelism) }, 'connected')
  const connectMs = Date.now() - started
  while (liveClients(vigil.broker).length < n) await sleep(100)
  await sleep(1000)
  const connected = await settle()
  const closing = Date.now()
  // The close storm's own peak (statuses, wills, session clean-up all at once), sampled every 50 ms.
  let peakRss = 0
  let peakHeap = 0
  const sample = setInterval(() => { const m = process.memoryUsage(); peakRss = Math.max(peakRss, m.rss); peakHeap = Math.max(peakHeap, m.heapUsed) }, 50)
  await fleet.request({ type: 'close' }, 'closed')
  while (liveClients(vigil.broker).length > 0) await sleep(50)
  const closeMs = Date.now() - closing
  await sleep(3000)
  clearInterval(sample)
  console.log(`  during the close: peak heapUsed ${mib(peakHeap)} MiB, peak rss ${mib(peakRss)} MiB`)
  const closed = await settle()
  console.log(`  ${n} connected in ${connectMs} ms, all closed at once, none left after ${closeMs} ms; ` +
    `after GC ${clientsAlive} client objects and ${socketsAlive} sockets still reachable`)
  return { connected, closed }
}

await cycle(Math.min(200, devices)) // warm-up: lazy initialisation is not retention
const base = await settle()
console.log(line('baseline after warm-up', base))
for (let c = 1; c <= cycles; c++) {
  const { connected, closed } = await cycle(devices)
  console.log(line(`cycle ${c}, ${devices} connected`, connected, base))
  console.log(line(`cycle ${c}, all closed`, closed, base))
}
fleet.stop()
await vigil.close()
