/**
 * The forked connect load (bench/connect-load.ts), one request at a time, so
 * the benchmark's own process holds no client sockets.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ConnectLoadReply, ConnectLoadRequest } from './connect-load.js'

export class ConnectLoadProcess {
  readonly #child: ChildProcess
  constructor () {
    this.#child = fork(fileURLToPath(new URL('./connect-load.js', import.meta.url)), [], { stdio: 'inherit' })
  }

  get pid (): number | undefined { return this.#child.pid }

  async request (message: ConnectLoadRequest): Promise<ConnectLoadReply> {
    const reply = await new Promise<ConnectLoadReply>((resolve, reject) => {
      this.#child.once('message', (m) => resolve(m as ConnectLoadReply))
      this.#child.once('exit', (code) => reject(new Error(`connect load process exited (${code})`)))
      this.#child.send(message)
    })
    this.#child.removeAllListeners('exit')
    if (reply.type === 'failed') throw new Error(`connect load: ${reply.error}`)
    return reply
  }

  stop (): void { if (this.#child.connected) this.#child.disconnect() }
}
