/**
 * Benchmark (not a test): what an MQTT 5 message costs the broker beside a
 * 3.1.1 one (issue 20), as same-run ratios. One Vigil in this process (memory
 * mode, default plugins), one raw-socket publisher writing pre-encoded QoS 0
 * PUBLISH packets (the client costs a few socket writes), one raw-socket
 * subscriber counting bytes; "v4" = both 3.1.1, "v5" = both MQTT 5 (a v5
 * PUBLISH without properties, the common case). Alternating pairs; the figure
 * is process CPU per message, so client and broker share it, the client's
 * share being the same for both.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/mqtt5-overhead.js [messages] [pairs]
 */
import { connect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { createVigil } from '../broker/server.js'
import { parseConfig } from '../config/load.js'

const MESSAGES = Number(process.argv[2] ?? 200_000)
const PAIRS = Number(process.argv[3] ?? 7)
const BATCH = 500

type Version = 4 | 5

async function open (port: number, clientId: string, version: Version): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const acked = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId, keepalive: 0 }, { protocolVersion: version }))
  await acked
  return socket
}

let run = 0
async function once (version: Version): Promise<{ cpuUsPerMsg: number, rate: number }> {
  const vigil = createVigil(parseConfig({ node: { id: `bench-${process.pid}-${++run}` }, mqtt: { port: 0, ws: null }, http: null, log: { level: 'silent' } }))
  await vigil.start()
  try {
    const port = vigil.ports.mqtt
    const sub = await open(port, `sub-${run}`, version)
    const subacked = new Promise<void>((resolve) => sub.once('data', () => resolve()))
    sub.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/telemetry', qos: 0 }] }, { protocolVersion: version }))
    await subacked
    const pub = await open(port, `pub-${run}`, version)
    const message = { cmd: 'publish' as const, topic: 'devices/pub-1/telemetry', payload: Buffer.from('{"t":21.5,"h":40}'), qos: 0 as const, retain: false, dup: false }
    const one = mqttPacket.generate(message, { protocolVersion: version })
    const batch = Buffer.concat(Array.from({ length: BATCH }, () => one))
    // What the subscriber receives per message is the same encoding.
    const expected = one.length * MESSAGES
    let received = 0
    const done = new Promise<void>((resolve) => sub.on('data', (d: Buffer) => { received += d.length; if (received >= expected) resolve() }))
    const cpu0 = process.cpuUsage()
    const t0 = Date.now()
    for (let sent = 0; sent < MESSAGES; sent += BATCH) {
      if (!pub.write(batch)) await new Promise<void>((resolve) => pub.once('drain', resolve))
    }
    await done
    const cpu = process.cpuUsage(cpu0)
    const ms = Date.now() - t0
    pub.destroy()
    sub.destroy()
    return { cpuUsPerMsg: (cpu.user + cpu.system) / MESSAGES, rate: MESSAGES / ms * 1000 }
  } finally {
    await vigil.close()
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const spread = (xs: number[], digits: number): string => `median ${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`

await once(4) // warm-up
const v4: Array<{ cpuUsPerMsg: number, rate: number }> = []
const v5: Array<{ cpuUsPerMsg: number, rate: number }> = []
for (let i = 0; i < PAIRS; i++) {
  if (i % 2 === 0) { v4.push(await once(4)); v5.push(await once(5)) } else { v5.push(await once(5)); v4.push(await once(4)) }
}
console.log(`QoS 0 fan-in, 1 publisher -> 1 subscriber, ${MESSAGES} messages per run, ${PAIRS} alternating pairs`)
console.log(`  3.1.1: ${spread(v4.map((r) => r.cpuUsPerMsg), 2)} us CPU/msg, ${spread(v4.map((r) => r.rate), 0)} msg/s`)
console.log(`  MQTT 5: ${spread(v5.map((r) => r.cpuUsPerMsg), 2)} us CPU/msg, ${spread(v5.map((r) => r.rate), 0)} msg/s`)
console.log(`  CPU per message v5/3.1.1 per pair: ${spread(v5.map((r, i) => r.cpuUsPerMsg / v4[i]!.cpuUsPerMsg), 3)}`)
