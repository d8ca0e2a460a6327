/**
 * The load side of the `connect` scenario, forked so that no process holds
 * more than a few thousand sockets (this machine allows 20,000 open files per
 * process; a 19,000-client run needs the load spread over several children
 * while the broker stays one process). Each child holds its share of raw
 * MQTT connections with wills until told to close them. Driven over IPC:
 *
 *   parent {connect, host, port, ids, parallelism, keepalive} -> child {connected, latencies, failed, startedAt, endedAt}
 *   parent {close}                                             -> child {closed}
 */
import { connect as netConnect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { encodeConnect, PacketParser } from './mqtt-codec.js'
import { sourceAddress } from './source-address.js'

export type ConnectLoadRequest =
  | { type: 'connect', host: string, port: number, prefix: string, first: number, count: number, parallelism: number, keepalive: number }
  | { type: 'close' }
export type ConnectLoadReply =
  | { type: 'connected', latencies: number[], failed: number, firstError: string | null, startedAt: number, endedAt: number }
  | { type: 'closed' }
  | { type: 'failed', error: string }

const nowMs = (): number => performance.timeOrigin + performance.now()

/** One raw connection with a will; resolves with the CONNACK latency. */
export async function rawConnect (host: string, port: number, clientId: string, keepalive: number, localAddress?: string): Promise<{ socket: Socket, ms: number }> {
  const t0 = nowMs()
  const socket = netConnect({ host, port, noDelay: true, ...(localAddress !== undefined ? { localAddress } : {}) })
  const parser = new PacketParser()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${clientId}: no CONNACK in 30 s`)) }, 30_000)
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
  socket.removeAllListeners('data')
  socket.on('error', () => {})
  return { socket, ms: nowMs() - t0 }
}

const sockets: Socket[] = []

async function connectAll (m: Extract<ConnectLoadRequest, { type: 'connect' }>): Promise<ConnectLoadReply> {
  const latencies: number[] = []
  let failed = 0
  let firstError: string | null = null
  let next = 0
  const startedAt = nowMs()
  await Promise.all(Array.from({ length: Math.min(m.parallelism, m.count) }, async () => {
    while (next < m.count) {
      const i = m.first + next++
      try {
        const r = await rawConnect(m.host, m.port, `${m.prefix}-${i}`, m.keepalive, sourceAddress(m.host, i))
        sockets.push(r.socket)
        latencies.push(r.ms)
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }))
  return { type: 'connected', latencies, failed, firstError, startedAt, endedAt: nowMs() }
}

if (process.send !== undefined) {
  process.on('message', (m: ConnectLoadRequest) => {
    const reply = m.type === 'connect'
      ? connectAll(m)
      : Promise.resolve().then((): ConnectLoadReply => {
        for (const s of sockets.splice(0)) s.destroy()
        return { type: 'closed' }
      })
    reply.then((r) => process.send!(r), (err: Error) => process.send!({ type: 'failed', error: err.message }))
  })
  process.on('disconnect', () => process.exit(0))
}
