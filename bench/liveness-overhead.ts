/**
 * Benchmark (not a test): what the liveness plugin costs on the hot path.
 * QoS 0 fan-in through a real broker over real TCP sockets: P publishers send
 * PUBLISHes to devices/<id>/telemetry as fast as the broker reads them; one
 * subscriber on devices/+/telemetry receives them all. Every PUBLISH is a
 * heartbeat (heartbeatTopics ["#"]), so the plugin's per-message hooks
 * (authorizePublish, published) run for every message.
 *
 * The load (publishers and subscriber, raw sockets with pre-encoded packets)
 * runs in a forked process (bench/fanin-load.ts), so this process is the
 * broker alone: its CPU time per message is the broker's, and the broker, not
 * the load, sets the throughput. The broker with the plugin and without it
 * run alternately in this one process, in pairs whose order alternates, so
 * drift on a shared machine does not favour one side; each pair gives one
 * on/off ratio, and the report gives the median pair with the spread.
 *
 *   npx tsc -p tsconfig.json && node --expose-gc dist/bench/liveness-overhead.js [messages] [pairs] [publishers] [variant]
 *
 * The variant is what the "on" side runs (the "off" side has no plugin):
 *   liveness       the liveness plugin (default)
 *   control        no plugin either: the ratios are this machine's noise floor
 *   empty-hooks    a plugin whose authorizePublish and published return at once
 *   no-hooks       the liveness plugin without its per-message hooks (events,
 *                  internal subscriptions, sweep timer and client fields kept)
 *   insights       the liveness and insights plugins (issue 18); the hook path
 *                  is also timed on the client's own heartbeat topic, parsed
 */
import { connect, type Socket } from 'node:net'
import { createVigil } from '../broker/server.js'
import type { VigilPlugin } from '../broker/plugin-types.js'
import { parseConfig } from '../config/load.js'
import { insightsPlugin } from '../plugins/insights/index.js'
import { livenessPlugin } from '../plugins/liveness/index.js'
import { FaninLoadProcess } from './fanin-load-process.js'
import { encodeConnect } from './mqtt-codec.js'

const MESSAGES = Number(process.argv[2] ?? 200_000)
const PAIRS = Number(process.argv[3] ?? 11)
const PUBLISHERS = Number(process.argv[4] ?? 10)
const VARIANT = process.argv[5] ?? 'liveness'
const gc = (globalThis as { gc?: () => void }).gc

const VARIANTS: Record<string, readonly VigilPlugin<any>[]> = {
  liveness: [livenessPlugin],
  control: [],
  'empty-hooks': [{ name: 'empty-hooks', setup: async () => ({ authorizePublish () {}, published () {} }) }],
  'no-hooks': [{
    ...livenessPlugin,
    async setup (ctx) {
      const { authorizePublish: _p, published: _d, authorizeForward: _f, ...rest } = await livenessPlugin.setup(ctx)
      return rest
    }
  }],
  insights: [livenessPlugin, insightsPlugin]
}
const ON = VARIANTS[VARIANT]
if (ON === undefined) throw new Error(`unknown variant ${VARIANT}: one of ${Object.keys(VARIANTS).join(', ')}`)

async function open (port: number, clientId: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const connack = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(encodeConnect(clientId, 60, null))
  await connack
  return socket
}

let run = 0
interface Result { rate: number, cpuUs: number }

async function once (load: FaninLoadProcess, plugins: readonly VigilPlugin<any>[]): Promise<Result> {
  const vigil = createVigil(parseConfig({
    node: { id: `bench-${process.pid}-${++run}` },
    mqtt: { port: 0, ws: null },
    http: null,
    log: { level: 'silent' }
  }), { plugins })
  await vigil.start()
  try {
    const ready = await load.request({ type: 'setup', port: vigil.ports.mqtt, messages: MESSAGES, publishers: PUBLISHERS }, 'ready')
    const messages = (ready as { messages: number }).messages
    gc?.()
    const started = process.hrtime.bigint()
    const cpuBefore = process.cpuUsage()
    await load.request({ type: 'go' }, 'done')
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage(cpuBefore)
    await load.request({ type: 'close' }, 'closed')
    return { rate: messages / seconds, cpuUs: (cpu.user + cpu.system) / messages }
  } finally {
    await vigil.close()
  }
}

/**
 * The hook path alone: the composed authorizePublish, published and
 * authorizeForward that Aedes calls for one PUBLISH delivered to one
 * subscriber, called directly on a real connected client (the plugin adds
 * no authorizeForward: the host's pass-through runs on both sides). Less exposed to
 * a noisy machine than the end-to-end figure: it is the plugin's own cost.
 */
/** What the device-like hook-path client publishes: telemetry (the fan-in's), or its heartbeat (insights parses it). */
const TELEMETRY = { topic: 'devices/pub-000/telemetry', payload: Buffer.from('{"t":21.5,"h":40.2,"uptime":123456,"rssi":-61}') }
const HEARTBEAT = { topic: 'devices/bench-hooks/heartbeat', payload: Buffer.from('{"ts":1763700000,"uptime":123456,"heap":40000,"rssi":-61,"heartbeat_interval":60}') }

async function hookPath (plugins: readonly VigilPlugin<any>[], calls: number, what = TELEMETRY): Promise<number> {
  const vigil = createVigil(parseConfig({
    node: { id: `bench-${process.pid}-${++run}` }, mqtt: { port: 0, ws: null }, http: null, log: { level: 'silent' }
  }), { plugins })
  await vigil.start()
  try {
    const socket = await open(vigil.ports.mqtt, 'bench-hooks')
    const broker = vigil.broker as unknown as {
      clients: Record<string, unknown>
      authorizePublish(c: unknown, p: unknown, cb: (e?: Error | null) => void): void
      published(p: unknown, c: unknown, cb: (e?: Error | null) => void): void
      authorizeForward(c: unknown, p: unknown): unknown
    }
    const client = broker.clients['bench-hooks']
    const packet = { cmd: 'publish', topic: what.topic, payload: what.payload, qos: 0, retain: false, dup: false }
    let refused = 0
    const done = (err?: Error | null): void => { if (err) refused++ }
    const started = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) {
      broker.authorizePublish(client, packet, done)
      broker.published(packet, client, done)
      if (broker.authorizeForward(client, packet) === null) refused++
    }
    const ns = Number(process.hrtime.bigint() - started) / calls
    socket.destroy()
    if (refused > 0) throw new Error('the hook path refused a publish')
    return ns
  } finally {
    await vigil.close()
  }
}

const stats = (values: number[], unit: string, digits = 0): { median: number, text: string } => {
  const sorted = [...values].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  const fmt = (v: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return { median, text: `median ${fmt(median)} ${unit} (min ${fmt(sorted[0]!)}, max ${fmt(sorted.at(-1)!)})` }
}

/** Mean of the pair ratios with about a 95 % interval (2 standard errors). */
const meanInterval = (values: number[]): string => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1)
  return `mean ${mean.toFixed(3)} +/- ${(2 * Math.sqrt(variance / values.length)).toFixed(3)}`
}

const load = new FaninLoadProcess()
const on: Result[] = []
const off: Result[] = []
try {
  await once(load, []) // warm-up, both sides
  await once(load, ON)
  for (let i = 0; i < PAIRS; i++) {
    if (i % 2 === 0) { off.push(await once(load, [])); on.push(await once(load, ON)) } else { on.push(await once(load, ON)); off.push(await once(load, [])) }
  }
} finally {
  load.stop()
}
const hooksOn: number[] = []
const hooksOff: number[] = []
const heartbeatsOn: number[] = []
const HOOKS_ON = VARIANT === 'insights' ? ON : [livenessPlugin]
for (let i = 0; i < 5; i++) {
  hooksOff.push(await hookPath([], 1_000_000))
  hooksOn.push(await hookPath(HOOKS_ON, 1_000_000))
  if (VARIANT === 'insights') heartbeatsOn.push(await hookPath(HOOKS_ON, 200_000, HEARTBEAT))
}
console.log(`QoS 0 fan-in, ${PUBLISHERS} publishers -> 1 subscriber, about ${MESSAGES} messages per run, ${PAIRS} on/off pairs; ` +
  `broker in this process, load in a forked one (node ${process.version}${gc === undefined ? ', run with --expose-gc to collect between runs' : ''})` +
  (VARIANT === 'liveness' ? '' : `\n  VARIANT ${VARIANT}: "plugin on" below means this variant, not the liveness plugin`))
const rateOff = stats(off.map((r) => r.rate), 'msg/s')
const rateOn = stats(on.map((r) => r.rate), 'msg/s')
const cpuOff = stats(off.map((r) => r.cpuUs), 'us broker CPU/msg', 2)
const cpuOn = stats(on.map((r) => r.cpuUs), 'us broker CPU/msg', 2)
const rateRatios = on.map((r, i) => r.rate / off[i]!.rate)
const cpuRatios = on.map((r, i) => r.cpuUs / off[i]!.cpuUs)
console.log(`  throughput, plugin off: ${rateOff.text}`)
console.log(`  throughput, plugin on:  ${rateOn.text}`)
console.log(`  throughput on/off, per pair: ${stats(rateRatios, '', 3).text}; ${meanInterval(rateRatios)}; ratio of medians ${(rateOn.median / rateOff.median).toFixed(3)}`)
console.log(`  CPU per message, plugin off: ${cpuOff.text}`)
console.log(`  CPU per message, plugin on:  ${cpuOn.text}`)
console.log(`  CPU on/off, per pair: ${stats(cpuRatios, '', 3).text}; ${meanInterval(cpuRatios)}; ratio of medians ${(cpuOn.median / cpuOff.median).toFixed(3)}`)
const hookOff = stats(hooksOff, 'ns/msg', 0)
const hookOn = stats(hooksOn, 'ns/msg', 0)
console.log(`  hook path (authorizePublish + published + authorizeForward), plugin off: ${hookOff.text}`)
console.log(`  hook path, plugin on:  ${hookOn.text}; added ${(hookOn.median - hookOff.median).toFixed(0)} ns/msg = ` +
  `${((hookOn.median - hookOff.median) / 1000 / cpuOff.median * 100).toFixed(1)} % of the broker's median CPU per message without the plugin`)
if (heartbeatsOn.length > 0) {
  const beat = stats(heartbeatsOn, 'ns/msg', 0)
  console.log(`  hook path, plugin on, the client's own heartbeat topic (ts and uptime parsed): ${beat.text}`)
}
