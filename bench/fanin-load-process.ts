/**
 * The forked fan-in load (bench/fanin-load.ts), driven one request at a time,
 * so the benchmark's own process measures the broker alone.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LoadReply, LoadRequest } from './fanin-load.js'

export class FaninLoadProcess {
  readonly #child: ChildProcess
  constructor () {
    this.#child = fork(fileURLToPath(new URL('./fanin-load.js', import.meta.url)), [], { stdio: 'inherit' })
  }

  /** Send one request and wait for its reply; `expect` also checks the reply's type. */
  async request (message: LoadRequest, expect?: LoadReply['type']): Promise<LoadReply> {
    const reply = await new Promise<LoadReply>((resolve, reject) => {
      this.#child.once('message', (m) => resolve(m as LoadReply))
      this.#child.once('exit', (code) => reject(new Error(`load process exited (${code})`)))
      this.#child.send(message)
    })
    this.#child.removeAllListeners('exit')
    if (reply.type === 'failed') throw new Error(`load: ${reply.error}`)
    if (expect !== undefined && reply.type !== expect) throw new Error(`load answered ${reply.type}, expected ${expect}`)
    return reply
  }

  stop (): void { this.#child.disconnect() }
}
