/**
 * A SessionFleet (bench/session-fleet.ts) in a child process, driven over IPC
 * one request at a time, so that thousands of devices cost the test or the
 * benchmark's own process nothing and each process stays under the per-process
 * open-file limit. The parent side is `FleetProcess`; forked, this module
 * serves requests.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SessionFleet, type ConnectResult, type ConnectSpec, type InboxReport } from './session-fleet.js'

export type FleetRequest =
  | { type: 'connect', spec: ConnectSpec, which: 'all' | 'closed' }
  | { type: 'freeze', from: number, count: number }
  | { type: 'kill', from: number, count: number }
  | { type: 'open' }
  | { type: 'inbox', expected: number, waitMs: number }
  | { type: 'usage' }

export type FleetReply =
  | { type: 'connected', result: ConnectResult }
  | { type: 'done', at: number }
  | { type: 'open', open: number, closedByBroker: number }
  | { type: 'inbox', report: InboxReport }
  | { type: 'usage', cpuMs: number, rssBytes: number }
  | { type: 'failed', error: string }

async function serve (fleet: SessionFleet, m: FleetRequest): Promise<FleetReply> {
  switch (m.type) {
    case 'connect': return { type: 'connected', result: await fleet.connect(m.spec, m.which) }
    case 'freeze': fleet.freeze(m.from, m.count); return { type: 'done', at: Date.now() }
    case 'kill': fleet.kill(m.from, m.count); return { type: 'done', at: Date.now() }
    case 'open': return { type: 'open', open: fleet.open(), closedByBroker: fleet.closedByBroker }
    case 'inbox': {
      // Waits (bounded) until every device has the expected messages, then reports.
      const deadline = Date.now() + m.waitMs
      let report = fleet.inbox(m.expected)
      while (report.complete < report.devices && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        report = fleet.inbox(m.expected)
      }
      return { type: 'inbox', report }
    }
    case 'usage': {
      const cpu = process.cpuUsage()
      return { type: 'usage', cpuMs: (cpu.user + cpu.system) / 1000, rssBytes: process.memoryUsage.rss() }
    }
  }
}

function runChild (): void {
  const [prefix, from, count] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])]
  const fleet = new SessionFleet(prefix, from, count)
  // Never outlive the parent.
  process.on('disconnect', () => { fleet.stop(); process.exit(0) })
  process.on('message', (m: FleetRequest) => {
    serve(fleet, m).then((reply) => process.send?.(reply), (err: Error) => process.send?.({ type: 'failed', error: err.message }))
  })
}

/** The parent side: devices `<prefix><from>` .. `<prefix><from + count - 1>` in one child process. */
export class FleetProcess {
  readonly #child: ChildProcess
  #queue: Promise<unknown> = Promise.resolve()

  constructor (prefix: string, from: number, count: number) {
    // Under a TypeScript loader (tests) this module is .ts; built, it is .js: fork the same kind.
    const self = fileURLToPath(import.meta.url)
    this.#child = fork(self, [prefix, String(from), String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  }

  get pid (): number | undefined { return this.#child.pid }

  /** One request at a time: replies come back in order. */
  async request<T extends FleetReply['type']> (message: FleetRequest, expect: T): Promise<Extract<FleetReply, { type: T }>> {
    const run = this.#queue.then(async () => await new Promise<FleetReply>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`fleet process exited (${code})`))
      this.#child.once('exit', onExit)
      this.#child.once('message', (reply) => { this.#child.removeListener('exit', onExit); resolve(reply as FleetReply) })
      this.#child.send(message)
    }))
    this.#queue = run.catch(() => {})
    const reply = await run
    if (reply.type === 'failed') throw new Error(`fleet: ${reply.error}`)
    if (reply.type !== expect) throw new Error(`fleet answered ${reply.type}, expected ${expect}`)
    return reply as Extract<FleetReply, { type: T }>
  }

  stop (): void {
    if (this.#child.connected) this.#child.disconnect()
    if (this.#child.exitCode === null) setTimeout(() => this.#child.kill('SIGKILL'), 2000).unref()
  }
}

if (process.send !== undefined && process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) runChild()
