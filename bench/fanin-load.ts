/**
 * The load side of bench/liveness-overhead.ts, forked into its own process so
 * that the broker's process measures only the broker: P publishers blast
 * pre-encoded QoS 0 PUBLISHes to devices/pub-NNN/telemetry over raw sockets as
 * fast as the broker reads them; one subscriber on devices/+/telemetry counts
 * the bytes that come back. Driven over IPC, one job after another:
 *
 *   parent {setup, port, messages, publishers} -> child {ready}
 *   parent {go}                                 -> child {done}  (every message received)
 *   parent {close}                              -> child {closed}
 */
import { connect, type Socket } from 'node:net'
import { encodeConnect, encodePublish, encodeSubscribe } from './mqtt-codec.js'

export type LoadRequest =
  | { type: 'setup', port: number, messages: number, publishers: number }
  | { type: 'go' }
  | { type: 'close' }
export type LoadReply = { type: 'ready', messages: number } | { type: 'done' } | { type: 'closed' } | { type: 'failed', error: string }

const BATCH = 500
const PAYLOAD = Buffer.from('{"t":21.5,"h":40.2,"uptime":123456,"rssi":-61}')

async function open (port: number, clientId: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const connack = new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.write(encodeConnect(clientId, 60, null))
  await connack
  return socket
}

interface Job { sub: Socket, pubs: Socket[], batches: Buffer[], perPublisher: number, expectedBytes: number }

async function setup (port: number, messages: number, publishers: number): Promise<Job> {
  const sub = await open(port, 'bench-sub')
  const subacked = new Promise<void>((resolve) => sub.once('data', () => resolve()))
  sub.write(encodeSubscribe(1, 'devices/+/telemetry', 0))
  await subacked
  const pubs: Socket[] = []
  const batches: Buffer[] = []
  for (let i = 0; i < publishers; i++) {
    const id = String(i).padStart(3, '0')
    pubs.push(await open(port, `bench-pub-${id}`))
    batches.push(Buffer.concat(new Array<Buffer>(BATCH).fill(encodePublish(`devices/pub-${id}/telemetry`, PAYLOAD, 0, false))))
  }
  const perPublisher = Math.max(1, Math.floor(messages / publishers / BATCH)) * BATCH
  // A QoS 0 PUBLISH reaches the subscriber with the same bytes it was sent with.
  const expectedBytes = perPublisher * publishers * (batches[0]!.length / BATCH)
  return { sub, pubs, batches, perPublisher, expectedBytes }
}

async function go (job: Job): Promise<void> {
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${received} of ${job.expectedBytes} bytes`)), 120_000)
    job.sub.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received >= job.expectedBytes) { clearTimeout(timer); resolve() }
    })
  })
  await Promise.all(job.pubs.map(async (socket, i) => {
    for (let sent = 0; sent < job.perPublisher; sent += BATCH) {
      if (!socket.write(job.batches[i]!)) await new Promise((resolve) => socket.once('drain', resolve))
    }
  }))
  await done
}

if (process.send !== undefined) {
  let job: Job | null = null
  const reply = (message: LoadReply): void => { process.send!(message) }
  process.on('message', (request: LoadRequest) => {
    const work = async (): Promise<LoadReply> => {
      if (request.type === 'setup') {
        job = await setup(request.port, request.messages, request.publishers)
        return { type: 'ready', messages: job.perPublisher * job.pubs.length }
      }
      if (request.type === 'go') {
        await go(job!)
        return { type: 'done' }
      }
      for (const socket of [job?.sub, ...(job?.pubs ?? [])]) socket?.destroy()
      job = null
      return { type: 'closed' }
    }
    work().then(reply, (err: Error) => reply({ type: 'failed', error: err.message }))
  })
  process.on('disconnect', () => process.exit(0))
}
