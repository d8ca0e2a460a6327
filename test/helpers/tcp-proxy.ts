/**
 * A loopback TCP proxy for fault tests: `cut()` drops every proxied connection
 * and refuses new ones (the listener closes, so connects get ECONNREFUSED), as a
 * network failure between the broker and Redis would; `restore()` listens again
 * on the same port. The server behind it keeps its data.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Teardown } from '../support/teardown.js'
import { freePort } from '../support/ports.js'

export interface TcpProxy {
  readonly port: number
  readonly url: string
  cut(): Promise<void>
  restore(): Promise<void>
}

export async function startTcpProxy (t: Teardown, targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | null = null
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
  }
  const listen = async (): Promise<void> => {
    const s = createServer((downstream) => {
      track(downstream)
      const upstream = connect(targetPort, '127.0.0.1')
      track(upstream)
      downstream.pipe(upstream)
      upstream.pipe(downstream)
      downstream.once('close', () => upstream.destroy())
      upstream.once('close', () => downstream.destroy())
    })
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => resolve())
    })
    server = s
  }
  const close = async (): Promise<void> => {
    const s = server
    server = null
    for (const socket of sockets) socket.destroy()
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
  await listen()
  t.teardown(close)
  return { port, url: `${scheme}://127.0.0.1:${port}`, cut: close, restore: listen }
}
