/**
 * Benchmark (not a test): what an MQTT 5 message costs the broker beside a
 * 3.1.1 one (issue 20), as same-run ratios. One Vigil child process
 * (dist/broker/main.js, memory mode, default plugins); raw-socket clients in
 * this process write pre-encoded PUBLISH packets and count what arrives, so
 * the figure is the broker's own CPU (utime + stime from /proc) per message,
 * the harness's not included. "v4" = every client 3.1.1, "v5" = every client
 * MQTT 5 (PUBLISH without properties, the common case). Scenarios:
 *
 * - fanin-qos0: 4 publishers -> 1 subscriber, QoS 0.
 * - fanin-qos1: 4 publishers -> 1 subscriber, QoS 1 both ways (the broker
 *   PUBACKs each PUBLISH; the subscriber PUBACKs each delivery).
 * - fanout-qos0: 1 publisher -> 20 subscribers, QoS 0; a fifth of the
 *   messages (four times the fan-ins' deliveries, so the broker's CPU time
 *   is well above /proc's 10 ms tick); CPU per message published (each one
 *   is 20 deliveries).
 *
 * v4 and v5 runs alternate on the same broker (pair order flips each pair).
 *
 *   npm run build && node dist/bench/mqtt5-overhead.js [messages] [pairs] [scenario,...] [target]
 *
 * `target` (default vigil) is any of bench/targets.ts: `aedes` gives bare
 * Aedes' own v5/3.1.1 ratio on the same harness.
 */
import { connect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { readProc } from './proc-stats.js'
import { startTarget } from './targets.js'

const MESSAGES = Number(process.argv[2] ?? 100_000)
const PAIRS = Number(process.argv[3] ?? 5)
const BATCH = 250
const SETTLE_MS = 500
const FANIN_PUBLISHERS = 4
const FANOUT_SUBSCRIBERS = 20

type Version = 4 | 5
interface Scenario { name: string, title: string, publishers: number, subscribers: number, qos: 0 | 1, share: number }

export const SCENARIOS: Scenario[] = [
  { name: 'fanin-qos0', title: `QoS 0 fan-in, ${FANIN_PUBLISHERS} publishers -> 1 subscriber`, publishers: FANIN_PUBLISHERS, subscribers: 1, qos: 0, share: 1 },
  { name: 'fanin-qos1', title: `QoS 1 fan-in, ${FANIN_PUBLISHERS} publishers -> 1 subscriber (PUBACK both ways)`, publishers: FANIN_PUBLISHERS, subscribers: 1, qos: 1, share: 1 },
  { name: 'fanout-qos0', title: `QoS 0 fan-out, 1 publisher -> ${FANOUT_SUBSCRIBERS} subscribers`, publishers: 1, subscribers: FANOUT_SUBSCRIBERS, qos: 0, share: 5 }
]

const wanted = process.argv[4] === undefined || process.argv[4] === 'all' ? SCENARIOS.map((s) => s.name) : process.argv[4].split(',')
const TARGET = process.argv[5] ?? 'vigil'
for (const name of wanted) {
  if (!SCENARIOS.some((s) => s.name === name)) {
    process.stderr.write(`unknown scenario ${name}: one of ${SCENARIOS.map((s) => s.name).join(', ')}\n`)
    process.exit(2)
  }
}

async function open (port: number, clientId: string, version: Version): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const acked = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId, keepalive: 0 }, { protocolVersion: version }))
  await acked
  return socket
}

/** A subscriber: counts deliveries; for QoS 1 it parses them and PUBACKs each (one write per chunk). */
async function subscriber (port: number, id: string, version: Version, qos: 0 | 1, deliverySize: number): Promise<{ socket: Socket, count(): number }> {
  const socket = await open(port, id, version)
  const subacked = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/telemetry', qos }] }, { protocolVersion: version }))
  await subacked
  let received = 0
  if (qos === 0) {
    let bytes = 0
    socket.on('data', (d: Buffer) => { bytes += d.length; received = Math.floor(bytes / deliverySize) })
  } else {
    const parser = mqttPacket.parser({ protocolVersion: version })
    let acks: Buffer[] = []
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd !== 'publish') return
      received++
      acks.push(mqttPacket.generate({ cmd: 'puback', messageId: (p as mqttPacket.IPublishPacket).messageId! }, { protocolVersion: version }))
    })
    socket.on('data', (d: Buffer) => {
      parser.parse(d)
      if (acks.length > 0) { socket.write(Buffer.concat(acks)); acks = [] }
    })
  }
  return { socket, count: () => received }
}

/** BATCH pre-encoded PUBLISH packets of one publisher (QoS 1: Packet Identifiers 1..BATCH, reused once each batch is acknowledged). */
function batchOf (publisher: string, version: Version, qos: 0 | 1): Buffer {
  const packets: Buffer[] = []
  for (let i = 0; i < BATCH; i++) {
    packets.push(mqttPacket.generate({
      cmd: 'publish', topic: `devices/${publisher}/telemetry`, payload: Buffer.from('{"t":21.5,"h":40}'), qos, retain: false, dup: false,
      ...(qos === 1 ? { messageId: i + 1 } : {})
    }, { protocolVersion: version }))
  }
  return Buffer.concat(packets)
}

/** Publish `total` messages in batches; QoS 1 waits for the batch's PUBACKs before reusing its identifiers. */
async function publish (socket: Socket, batch: Buffer, total: number, qos: 0 | 1, version: Version): Promise<void> {
  const ackSize = mqttPacket.generate({ cmd: 'puback', messageId: 1 }, { protocolVersion: version }).length
  let ackBytes = 0
  let waiting: (() => void) | null = null
  if (qos === 1) socket.on('data', (d: Buffer) => { ackBytes += d.length; if (waiting !== null && ackBytes >= BATCH * ackSize) { ackBytes -= BATCH * ackSize; const w = waiting; waiting = null; w() } })
  for (let sent = 0; sent < total; sent += BATCH) {
    if (qos === 1) {
      const acked = new Promise<void>((resolve) => { waiting = resolve })
      socket.write(batch)
      await acked
    } else if (!socket.write(batch)) {
      await new Promise<void>((resolve) => socket.once('drain', resolve))
    }
  }
}

interface Result { cpuUsPerMsg: number, rate: number }

let run = 0
async function once (port: number, pid: number, scenario: Scenario, version: Version): Promise<Result> {
  run++
  const perPublisher = Math.ceil(MESSAGES / scenario.share / scenario.publishers / BATCH) * BATCH
  const total = perPublisher * scenario.publishers
  const deliverySize = mqttPacket.generate({ cmd: 'publish', topic: 'devices/p-0/telemetry', payload: Buffer.from('{"t":21.5,"h":40}'), qos: 0, retain: false, dup: false }, { protocolVersion: version }).length
  const subs = await Promise.all(Array.from({ length: scenario.subscribers }, async (_v, i) => await subscriber(port, `s${run}-${i}`, version, scenario.qos, deliverySize)))
  const pubs = await Promise.all(Array.from({ length: scenario.publishers }, async (_v, i) => await open(port, `p${run}-${i}`, version)))
  // Same-length topics for every publisher, so a QoS 0 delivery's size is known: `p-<digit>`.
  const batches = pubs.map((_p, i) => batchOf(`p-${i}`, version, scenario.qos))
  const cpu0 = readProc(pid)
  const t0 = Date.now()
  const everyone = new Promise<void>((resolve) => {
    const check = (): void => { if (subs.every((s) => s.count() >= total)) resolve(); else setTimeout(check, 5) }
    check()
  })
  await Promise.all(pubs.map(async (p, i) => await publish(p, batches[i]!, perPublisher, scenario.qos, version)))
  await everyone
  const ms = Date.now() - t0
  const cpu1 = readProc(pid)
  for (const s of [...pubs, ...subs.map((x) => x.socket)]) s.destroy()
  // Let the broker finish with these connections (closes, their garbage) before the next run's measurement starts.
  await new Promise<void>((resolve) => setTimeout(resolve, SETTLE_MS))
  if (cpu0 === null || cpu1 === null) throw new Error('no /proc reading of the broker (Linux only)')
  return { cpuUsPerMsg: (cpu1.cpuMs - cpu0.cpuMs) * 1000 / total, rate: total / ms * 1000 }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const spread = (xs: number[], digits: number): string => `median ${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`

const target = await startTarget(TARGET)
try {
  const port = Number(new URL(target.url).port)
  const pid = target.pids()[0]!
  console.log(`${TARGET} child process (pid ${pid}), broker CPU from /proc; about ${MESSAGES} messages per run, ${PAIRS} alternating pairs`)
  for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.name))) {
    await once(port, pid, scenario, 4) // warm-up
    await once(port, pid, scenario, 5)
    const v4: Result[] = []
    const v5: Result[] = []
    for (let i = 0; i < PAIRS; i++) {
      if (i % 2 === 0) { v4.push(await once(port, pid, scenario, 4)); v5.push(await once(port, pid, scenario, 5)) } else { v5.push(await once(port, pid, scenario, 5)); v4.push(await once(port, pid, scenario, 4)) }
    }
    console.log(`${scenario.name}: ${scenario.title}`)
    console.log(`  3.1.1: ${spread(v4.map((r) => r.cpuUsPerMsg), 2)} us broker CPU/msg, ${spread(v4.map((r) => r.rate), 0)} msg/s`)
    console.log(`  MQTT 5: ${spread(v5.map((r) => r.cpuUsPerMsg), 2)} us broker CPU/msg, ${spread(v5.map((r) => r.rate), 0)} msg/s`)
    // A run shorter than /proc's 10 ms tick reads 0: no ratio from it.
    const ratios = v5.flatMap((r, i) => v4[i]!.cpuUsPerMsg > 0 ? [r.cpuUsPerMsg / v4[i]!.cpuUsPerMsg] : [])
    console.log(`  broker CPU per message v5/3.1.1 per pair: ${ratios.length > 0 ? spread(ratios, 3) : 'n/a (runs too short for /proc\'s 10 ms tick)'}`)
  }
} finally {
  await target.stop()
}
