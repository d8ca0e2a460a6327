/**
 * Benchmark (not a test): what the liveness plugin costs on the hot path.
 * QoS 0 fan-in through a real broker (real TCP sockets): P publishers send
 * PUBLISHes to devices/<id>/telemetry as fast as the broker reads them; one
 * subscriber on devices/+/telemetry receives them all. Every PUBLISH is a
 * heartbeat (heartbeatTopics ["#"]), so the plugin's authorizePublish,
 * published and authorizeForward run for every message. The broker with the
 * plugin and without it run alternately in the same process, several times;
 * the report gives messages/s medians with min/max and the same-run ratio.
 * Raw sockets with pre-encoded packets keep the load generator's own cost low.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/liveness-overhead.js [messages] [reps] [publishers]
 */
import { connect, type Socket } from 'node:net'
import { createVigil } from '../broker/server.js'
import type { VigilPlugin } from '../broker/plugin-types.js'
import { parseConfig } from '../config/load.js'
import { livenessPlugin } from '../plugins/liveness/index.js'

const MESSAGES = Number(process.argv[2] ?? 100_000)
const REPS = Number(process.argv[3] ?? 5)
const PUBLISHERS = Number(process.argv[4] ?? 10)
const BATCH = 500

function connectPacket (clientId: string): Buffer {
  const id = Buffer.from(clientId)
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, id.length >> 8, id.length & 0xff]), id])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

function publishPacket (topic: string, payload: Buffer): Buffer {
  const t = Buffer.from(topic)
  const length = 2 + t.length + payload.length
  if (length > 127) throw new Error('keep bench packets under 128 bytes')
  return Buffer.concat([Buffer.from([0x30, length, t.length >> 8, t.length & 0xff]), t, payload])
}

function subscribePacket (filter: string): Buffer {
  const f = Buffer.from(filter)
  const body = Buffer.concat([Buffer.from([0, 1, f.length >> 8, f.length & 0xff]), f, Buffer.from([0])])
  return Buffer.concat([Buffer.from([0x82, body.length]), body])
}

async function open (port: number, clientId: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const connack = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(connectPacket(clientId))
  await connack
  return socket
}

let run = 0
interface Result { rate: number, cpuUs: number }

async function once (plugins: readonly VigilPlugin<any>[]): Promise<Result> {
  const vigil = createVigil(parseConfig({
    node: { id: `bench-${process.pid}-${++run}` },
    mqtt: { port: 0, ws: null },
    http: null,
    log: { level: 'silent' }
  }), { plugins })
  await vigil.start()
  const port = vigil.ports.mqtt
  try {
    const payload = Buffer.from('{"t":21.5,"h":40.2,"uptime":123456,"rssi":-61}')
    const sub = await open(port, 'bench-sub')
    const subacked = new Promise<void>((resolve) => sub.once('data', () => resolve()))
    sub.write(subscribePacket('devices/+/telemetry'))
    await subacked
    const pubs: Socket[] = []
    const batches: Buffer[] = []
    for (let i = 0; i < PUBLISHERS; i++) {
      pubs.push(await open(port, `bench-pub-${String(i).padStart(3, '0')}`))
      const packet = publishPacket(`devices/pub-${String(i).padStart(3, '0')}/telemetry`, payload)
      batches.push(Buffer.concat(new Array(BATCH).fill(packet)))
    }
    const packetSize = batches[0]!.length / BATCH
    const perPublisher = Math.floor(MESSAGES / PUBLISHERS / BATCH) * BATCH
    const expected = perPublisher * PUBLISHERS * packetSize
    let received = 0
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${received / packetSize} of ${expected / packetSize}`)), 60_000)
      sub.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received >= expected) { clearTimeout(timer); resolve() }
      })
    })
    const started = process.hrtime.bigint()
    const cpuBefore = process.cpuUsage()
    await Promise.all(pubs.map(async (socket, i) => {
      for (let sent = 0; sent < perPublisher; sent += BATCH) {
        if (!socket.write(batches[i]!)) await new Promise((resolve) => socket.once('drain', resolve))
      }
    }))
    await done
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage(cpuBefore)
    for (const socket of [sub, ...pubs]) socket.destroy()
    const messages = perPublisher * PUBLISHERS
    return { rate: messages / seconds, cpuUs: (cpu.user + cpu.system) / messages }
  } finally {
    await vigil.close()
  }
}

/**
 * The hook path alone: the composed authorizePublish, published and
 * authorizeForward that Aedes calls for one PUBLISH delivered to one
 * subscriber, called directly on a real connected client. Less exposed to
 * a noisy machine than the end-to-end figure: it is the plugin's own cost.
 */
async function hookPath (plugins: readonly VigilPlugin<any>[], calls: number): Promise<number> {
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
    const packet = { cmd: 'publish', topic: 'devices/pub-000/telemetry', payload: Buffer.from('{"t":21.5,"h":40.2,"uptime":123456,"rssi":-61}'),
      qos: 0, retain: false, dup: false }
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

const on: Result[] = []
const off: Result[] = []
await once([]) // warm-up
await once([livenessPlugin])
for (let i = 0; i < REPS; i++) {
  // alternate the order so drift on a shared machine does not favour one side
  if (i % 2 === 0) { off.push(await once([])); on.push(await once([livenessPlugin])) } else { on.push(await once([livenessPlugin])); off.push(await once([])) }
}
const hooksOn: number[] = []
const hooksOff: number[] = []
for (let i = 0; i < REPS; i++) {
  hooksOff.push(await hookPath([], 1_000_000))
  hooksOn.push(await hookPath([livenessPlugin], 1_000_000))
}
const messages = Math.floor(MESSAGES / PUBLISHERS / BATCH) * BATCH * PUBLISHERS
console.log(`QoS 0 fan-in, ${PUBLISHERS} publishers -> 1 subscriber, ${messages} messages per run, ${REPS} repetitions, ` +
  `broker and load generator in one process (node ${process.version})`)
const rateOff = stats(off.map((r) => r.rate), 'msg/s')
const rateOn = stats(on.map((r) => r.rate), 'msg/s')
const cpuOff = stats(off.map((r) => r.cpuUs), 'us CPU/msg', 2)
const cpuOn = stats(on.map((r) => r.cpuUs), 'us CPU/msg', 2)
const rateRatios = on.map((r, i) => r.rate / off[i]!.rate)
const cpuRatios = on.map((r, i) => r.cpuUs / off[i]!.cpuUs)
console.log(`  throughput, plugin off: ${rateOff.text}`)
console.log(`  throughput, plugin on:  ${rateOn.text}`)
console.log(`  throughput on/off, per pair: ${stats(rateRatios, '', 3).text}; ratio of medians ${(rateOn.median / rateOff.median).toFixed(3)}`)
console.log(`  CPU per message, plugin off: ${cpuOff.text}`)
console.log(`  CPU per message, plugin on:  ${cpuOn.text}`)
console.log(`  CPU on/off, per pair: ${stats(cpuRatios, '', 3).text}; ratio of medians ${(cpuOn.median / cpuOff.median).toFixed(3)}`)
const hookOff = stats(hooksOff, 'ns/msg', 0)
const hookOn = stats(hooksOn, 'ns/msg', 0)
console.log(`  hook path (authorizePublish + published + authorizeForward), plugin off: ${hookOff.text}`)
console.log(`  hook path, plugin on:  ${hookOn.text}; added ${(hookOn.median - hookOff.median).toFixed(0)} ns/msg = ` +
  `${((hookOn.median - hookOff.median) / 1000 / cpuOff.median * 100).toFixed(1)} % of the median CPU per message without the plugin`)
