/**
 * connect: M clients, each with a will, connecting at a given parallelism.
 * Connects/s, CONNACK latency, and the broker's RSS per idle connection
 * (RSS after all are connected and idle, minus RSS before, over M). Raw
 * sockets keep the harness cheap so the broker, not mqtt.js, is measured.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { encodeConnect, PacketParser } from '../mqtt-codec.js'
import { Monitor } from '../self-check.js'
import { rate, summarizeLatencies } from '../stats.js'
import { nowMs, num, pool, sleep, type Context, type Flags, type RunResult, type Scenario } from './common.js'

export interface ConnectOptions { clients: number, parallelism: number, keepalive: number }

async function rawConnect (host: string, port: number, clientId: string, keepalive: number): Promise<{ socket: Socket, ms: number }> {
  const t0 = nowMs()
  const socket = netConnect({ host, port, noDelay: true })
  const parser = new PacketParser()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${clientId}: no CONNACK in 15 s`)) }, 15_000)
    socket.once('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('data', (chunk: Buffer) => parser.feed(chunk, (p) => {
      if (p.type !== 'connack') return
      clearTimeout(timer)
      if (p.returnCode === 0) resolve()
      else reject(new Error(`${clientId}: CONNACK ${p.returnCode}`))
    }))
    socket.once('connect', () => socket.write(encodeConnect(clientId, keepalive,
      { topic: `devices/${clientId}/status`, payload: '{"state":"offline","ts":0}', qos: 1, retain: true })))
  })
  socket.on('error', () => {})
  return { socket, ms: nowMs() - t0 }
}

export const connectScenario: Scenario<ConnectOptions> = {
  name: 'connect',
  describe: 'M clients with wills at a given parallelism: connects/s, broker RSS per idle connection',
  metrics: [
    { key: 'connectRate', label: 'connects', unit: '/s', better: 'higher', digits: 0 },
    { key: 'p50', label: 'CONNACK p50', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'p99', label: 'CONNACK p99', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'rssPerConnKiB', label: 'RSS/idle conn', unit: 'KiB', better: 'lower', digits: 1 }
  ],
  parse (f: Flags) {
    return {
      clients: num(f, 'clients', 1000, 1, 20_000),
      parallelism: num(f, 'parallelism', 50, 1, 1000),
      keepalive: num(f, 'keepalive', 60, 0, 65535)
    }
  },
  async run (ctx: Context, o: ConnectOptions): Promise<RunResult> {
    const url = new URL(ctx.target.url)
    const host = url.hostname
    const port = Number(url.port || 1883)
    const sockets: Socket[] = []
    const latencies: number[] = []
    let failed = 0
    const monitor = new Monitor({ brokerPids: () => ctx.target.pids() })
    await sleep(300)
    const rssBefore = monitor.brokerRss()
    monitor.begin()
    const progress = setInterval(() => ctx.progress(`connect ${ctx.target.name} rep ${ctx.rep}: ${sockets.length}/${o.clients}`), 2000)
    const started = nowMs()
    try {
      await pool(Array.from({ length: o.clients }, (_, i) => i), o.parallelism, async (i) => {
        try {
          const r = await rawConnect(host, port, `bench-conn-${process.pid}-${i}`, o.keepalive)
          sockets.push(r.socket)
          latencies.push(r.ms)
        } catch { failed++ }
      })
      const elapsed = nowMs() - started
      const selfCheck = monitor.finish()
      // Let the broker settle (GC, buffers) before reading the idle footprint.
      await sleep(1500)
      const rssAfter = monitor.brokerRss()
      const lat = summarizeLatencies(latencies)
      const perConn = rssBefore !== null && rssAfter !== null && sockets.length > 0 ? (rssAfter - rssBefore) / sockets.length / 1024 : NaN
      return {
        scenario: 'connect', target: ctx.target.name, rep: ctx.rep, params: { ...o },
        metrics: {
          connected: sockets.length, failed, connectRate: rate(sockets.length, elapsed), p50: lat.p50, p99: lat.p99,
          rssBeforeMiB: rssBefore !== null ? rssBefore / 2 ** 20 : NaN, rssAfterMiB: rssAfter !== null ? rssAfter / 2 ** 20 : NaN,
          rssPerConnKiB: perConn
        },
        latencies, selfCheck,
        notes: ctx.target.pids().length > 1 ? ['RSS includes redis-server'] : []
      }
    } finally {
      clearInterval(progress)
      monitor.finish()
      for (const s of sockets) s.destroy()
      await sleep(200)
    }
  }
}
