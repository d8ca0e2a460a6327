/**
 * sizing: run a fleet description (bench/fleets/*.yaml) against the broker,
 * time-scaled if asked, and report measured vs expected load and the
 * headroom this machine has for it.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { freemem } from 'node:os'
import type { MqttClient } from 'mqtt'
import { encodeAck, encodeConnect, encodePublish, PacketParser, PINGREQ } from '../mqtt-codec.js'
import { Monitor } from '../self-check.js'
import { expect, headroom, loadFleet, topicFor, type FleetDescription } from '../sizing.js'
import { client, endAll, num, pool, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface SizingOptions { fleetFile: string, fleet: FleetDescription, timeScale: number, durationMs: number, parallelism: number }

interface SimDevice { socket: Socket, timer: NodeJS.Timeout | null, ping: NodeJS.Timeout | null }

async function openDevice (host: string, port: number, id: string, keepalive: number): Promise<SimDevice> {
  const socket = netConnect({ host, port, noDelay: true })
  const parser = new PacketParser()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${id}: no CONNACK`)) }, 15_000)
    socket.once('error', (e) => { clearTimeout(timer); reject(e) })
    socket.on('data', (chunk: Buffer) => parser.feed(chunk, (p) => {
      if (p.type === 'connack') { clearTimeout(timer); p.returnCode === 0 ? resolve() : reject(new Error(`CONNACK ${p.returnCode}`)) } else if (p.type === 'pubrec') socket.write(encodeAck(0x62, p.packetId))
    }))
    socket.once('connect', () => socket.write(encodeConnect(id, keepalive, null)))
  })
  socket.on('error', () => {})
  const ping = keepalive > 0 ? setInterval(() => socket.write(PINGREQ), keepalive * 1000) : null
  return { socket, timer: null, ping }
}

export const sizing: Scenario<SizingOptions> = {
  name: 'sizing',
  describe: 'run a fleet description (time-scaled): measured vs expected msg/s, bandwidth, memory; headroom',
  metrics: [
    { key: 'expectedInbound', label: 'expected inbound', unit: 'msg/s', better: 'none', digits: 1 },
    { key: 'inboundRate', label: 'inbound', unit: 'msg/s', better: 'none', digits: 1 },
    { key: 'expectedOutbound', label: 'expected outbound', unit: 'msg/s', better: 'none', digits: 1 },
    { key: 'outboundRate', label: 'outbound', unit: 'msg/s', better: 'none', digits: 1 },
    { key: 'outboundVsExpectedPct', label: 'out vs expected', unit: '%', better: 'none', digits: 1 },
    { key: 'brokerCpuPct', label: 'broker CPU', unit: '%', better: 'lower', digits: 1 },
    { key: 'expectedMemoryMiB', label: 'expected memory', unit: 'MiB', better: 'none', digits: 1 },
    { key: 'brokerRssMiB', label: 'broker RSS', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'rssPerConnKiB', label: 'RSS/connection', unit: 'KiB', better: 'lower', digits: 1 },
    { key: 'cpuHeadroom', label: 'CPU headroom', unit: 'x fleet', better: 'higher', digits: 1 },
    { key: 'memoryHeadroom', label: 'memory headroom', unit: 'x fleet', better: 'higher', digits: 1 }
  ],
  parse (f: Flags) {
    const fleetFile = typeof f.fleet === 'string' ? f.fleet : 'bench/fleets/smart-building.yaml'
    return {
      fleetFile,
      fleet: loadFleet(fleetFile),
      timeScale: num(f, 'time-scale', 1, 0.01, 1000),
      durationMs: num(f, 'duration', 20, 1, 120) * 1000,
      parallelism: num(f, 'parallelism', 100, 1, 1000)
    }
  },
  async run (ctx: Context, o: SizingOptions): Promise<RunResult> {
    const fleet = o.fleet
    const expected = expect(fleet, o.timeScale)
    const url = new URL(ctx.target.url)
    const host = url.hostname
    const port = Number(url.port || 1883)
    const subs: MqttClient[] = []
    const devices: SimDevice[] = []
    let outbound = 0
    let inbound = 0
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids() })
    await sleep(300)
    const rssBefore = monitor.brokerRss() ?? NaN
    try {
      for (let s = 0; s < fleet.subscribersPerTopic; s++) {
        const c = await client(ctx.target.url, { clientId: `bench-sizing-sub-${process.pid}-${s}` })
        c.on('message', () => { outbound++ })
        const root = fleet.topic.split('/')[0]!
        await c.subscribeAsync(`${root}/#`, { qos: 2 })
        subs.push(c)
      }
      const plan = fleet.classes.flatMap((c) => Array.from({ length: c.count }, (_, i) => ({ c, i })))
      await pool(plan, o.parallelism, async ({ c, i }) => {
        devices.push(await openDevice(host, port, `bench-${c.name}-${i}`, fleet.keepalive))
      })
      ctx.progress(`sizing ${ctx.target.name} rep ${ctx.rep}: ${devices.length} devices + ${subs.length} subscribers connected`)
      await sleep(500)
      const rssConnected = monitor.brokerRss() ?? NaN
      monitor.begin()
      const started = Date.now()
      const stopAt = started + o.durationMs
      let k = 0
      let packetId = 0
      for (const c of fleet.classes) {
        const periodMs = c.perMinute > 0 ? 60_000 / (c.perMinute * o.timeScale) : Infinity
        const payload = Buffer.alloc(c.payloadBytes, 0x30)
        for (let i = 0; i < c.count; i++) {
          const d = devices[k++]!
          if (!Number.isFinite(periodMs)) continue
          const topic = topicFor(fleet, c.name, i)
          const send = (): void => {
            if (Date.now() >= stopAt || d.socket.destroyed) return
            packetId = (packetId % 65535) + 1
            d.socket.write(encodePublish(topic, payload, c.qos, false, packetId))
            inbound++
            d.timer = setTimeout(send, periodMs)
          }
          // A random phase: a real fleet does not publish in lockstep.
          d.timer = setTimeout(send, Math.random() * periodMs)
        }
      }
      const progress = setInterval(() => ctx.progress(`sizing ${ctx.target.name} rep ${ctx.rep}: in ${inbound}, out ${outbound}`), 5000)
      await sleep(o.durationMs)
      clearInterval(progress)
      const sentIn = inbound
      await sleep(1000)
      const selfCheck = monitor.finish()
      const elapsedS = o.durationMs / 1000
      const brokerCpu = selfCheck.brokerCpuMean ?? NaN
      const rssGrowth = rssConnected - rssBefore
      const room = headroom(brokerCpu, o.timeScale, rssGrowth, freemem())
      const inboundRate = sentIn / elapsedS
      const outboundRate = outbound / elapsedS
      return {
        scenario: 'sizing', target: ctx.target.name, rep: ctx.rep,
        params: { fleet: o.fleetFile, timeScale: o.timeScale, durationMs: o.durationMs },
        metrics: {
          devices: devices.length, expectedInbound: expected.inboundPerSec, expectedOutbound: expected.outboundPerSec,
          inboundRate, outboundRate,
          inboundVsExpectedPct: 100 * inboundRate / expected.inboundPerSec,
          outboundVsExpectedPct: 100 * outboundRate / expected.outboundPerSec,
          deliveredPct: sentIn > 0 ? 100 * outbound / (sentIn * fleet.subscribersPerTopic) : NaN,
          expectedInKBps: expected.inboundBytesPerSec / 1024, expectedOutKBps: expected.outboundBytesPerSec / 1024,
          expectedMemoryMiB: expected.memoryBytes / 2 ** 20, brokerRssMiB: (selfCheck.brokerRssMax ?? NaN) / 2 ** 20,
          rssPerConnKiB: rssGrowth / (devices.length + subs.length) / 1024,
          brokerCpuPct: brokerCpu * 100, cpuHeadroom: room.cpu, memoryHeadroom: room.memory
        },
        details: { expected, headroomNote: 'CPU headroom = 1 core / (broker CPU at this time scale / time scale); memory headroom = free memory / RSS growth for this fleet' },
        selfCheck,
        notes: o.timeScale !== 1 ? [`time-scaled x${o.timeScale}: every rate multiplied, expectations too`] : []
      }
    } finally {
      monitor.finish()
      for (const d of devices) { if (d.timer !== null) clearTimeout(d.timer); if (d.ping !== null) clearInterval(d.ping); d.socket.destroy() }
      await endAll(subs)
    }
  }
}
