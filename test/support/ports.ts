/**
 * Ports for servers a test starts in another process (redis-server, vigil, mosquitto,
 * prometheus), which must be told a port before they bind it.
 *
 * The classic `listen(0)` then `close()` hands out a port from the kernel's ephemeral
 * range (32768-60999 here), which the kernel gives again to the next outgoing connection
 * or `listen(0)` of any process: with test files running side by side, the child then
 * meets EADDRINUSE. These ports come from below that range, where the kernel never picks
 * on its own; the only other takers are concurrent test files, so the start is random, this
 * process never hands a port out twice, and the port is checked free before it is returned.
 */
import { createServer } from 'node:net'

const LOW = 20_000
const HIGH = 32_000
const handedOut = new Set<number>()
let next = LOW + Math.floor(Math.random() * (HIGH - LOW))

function bindable (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)))
  })
}

export async function freePort (): Promise<number> {
  for (let tries = 0; tries < HIGH - LOW; tries++) {
    // A stride keeps neighbouring files' random starts from walking into each other.
    next = LOW + ((next - LOW + 97) % (HIGH - LOW))
    const port = next
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (await bindable(port)) return port
  }
  throw new Error(`no free port between ${LOW} and ${HIGH}`)
}
