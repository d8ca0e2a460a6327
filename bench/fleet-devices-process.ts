/** The forked fleet devices (bench/fleet-devices.ts), one request at a time. */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FleetDevicesReply, FleetDevicesRequest } from './fleet-devices.js'

export class FleetDevicesProcess {
  readonly #child: ChildProcess
  constructor () {
    this.#child = fork(fileURLToPath(new URL('./fleet-devices.js', import.meta.url)), [], { stdio: 'inherit' })
  }

  get pid (): number | undefined { return this.#child.pid }

  async request<T extends FleetDevicesReply['type']> (message: FleetDevicesRequest, expect: T): Promise<Extract<FleetDevicesReply, { type: T }>> {
    const reply = await new Promise<FleetDevicesReply>((resolve, reject) => {
      this.#child.once('message', (m) => resolve(m as FleetDevicesReply))
      this.#child.once('exit', (code) => reject(new Error(`fleet devices process exited (${code})`)))
      this.#child.send(message)
    })
    this.#child.removeAllListeners('exit')
    if (reply.type === 'failed') throw new Error(`fleet devices: ${reply.error}`)
    if (reply.type !== expect) throw new Error(`fleet devices answered ${reply.type}, expected ${expect}`)
    return reply as Extract<FleetDevicesReply, { type: T }>
  }

  stop (): void { if (this.#child.connected) this.#child.disconnect() }
}
