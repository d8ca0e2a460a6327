/**
 * One command's life: send, wait `timeout` for the device's ack, re-send the
 * same bytes (same id) up to `retries` times, settle on the first ack. Acks
 * are matched by id AND by the device whose ack topic carried them, so a
 * device can never answer for another. A second ack for a settled id is
 * ignored. No Aedes here: the adapter gives `publish` and feeds `deliverAck`.
 */
import type { Scheduler } from '../../broker/scheduler.js'
import type { Ack } from './messages.js'

export type Outcome =
  | { status: 'acked' | 'failed', result: unknown, attempts: number, latencyMs: number }
  | { status: 'timeout', attempts: number }
  | { status: 'aborted', attempts: number }

export interface RunnerDeps {
  publish(topic: string, payload: Buffer): Promise<void>
  /** The latency clock and the ack timeouts (ctx.scheduler). */
  scheduler: Scheduler
}

export interface RunSpec {
  id: string
  clientId: string
  topic: string
  payload: Buffer
  timeoutMs: number
  retries: number
  /** Told before each send (attempt counts from 1), e.g. to update the stored record. */
  onAttempt?(attempt: number): void
}

interface Pending {
  clientId: string
  /** An ack that arrived while no attempt was waiting (e.g. during a send). */
  early: Ack | null
  wake: ((ack: Ack | null) => void) | null
}

export class CommandRunner {
  readonly #deps: RunnerDeps
  readonly #pending = new Map<string, Pending>()
  #closed = false

  constructor (deps: RunnerDeps) {
    this.#deps = deps
  }

  get pending (): number {
    return this.#pending.size
  }

  async run (spec: RunSpec): Promise<Outcome> {
    if (this.#closed) return { status: 'aborted', attempts: 0 }
    const entry: Pending = { clientId: spec.clientId, early: null, wake: null }
    this.#pending.set(spec.id, entry)
    const started = this.#deps.scheduler.now()
    let attempts = 0
    try {
      for (let attempt = 1; attempt <= spec.retries + 1; attempt++) {
        if (this.#closed) return { status: 'aborted', attempts }
        attempts = attempt
        spec.onAttempt?.(attempt)
        await this.#deps.publish(spec.topic, spec.payload)
        const ack = entry.early ?? await this.#wait(entry, spec.timeoutMs)
        if (ack !== null) {
          return {
            status: ack.status === 'ok' ? 'acked' : 'failed',
            result: ack.result,
            attempts,
            latencyMs: Math.max(0, Math.round(this.#deps.scheduler.now() - started))
          }
        }
        if (this.#closed) return { status: 'aborted', attempts }
      }
      return { status: 'timeout', attempts }
    } finally {
      this.#pending.delete(spec.id)
    }
  }

  /**
   * An ack heard on `fromClientId`'s ack topic. Returns whether it settled a
   * waiting command; acks for unknown or settled ids, or from another device,
   * change nothing.
   */
  deliverAck (fromClientId: string, ack: Ack): boolean {
    const entry = this.#pending.get(ack.id)
    if (entry === undefined || entry.clientId !== fromClientId || entry.early !== null) return false
    if (entry.wake !== null) {
      const wake = entry.wake
      entry.wake = null
      entry.early = ack
      wake(ack)
    } else {
      entry.early = ack
    }
    return true
  }

  /** Shutdown: every waiting command settles as aborted. */
  close (): void {
    this.#closed = true
    for (const entry of this.#pending.values()) {
      const wake = entry.wake
      entry.wake = null
      wake?.(null)
    }
  }

  #wait (entry: Pending, timeoutMs: number): Promise<Ack | null> {
    return new Promise((resolve) => {
      const timer = this.#deps.scheduler.after(timeoutMs, () => {
        entry.wake = null
        resolve(null)
      })
      entry.wake = (ack) => {
        timer.cancel()
        resolve(ack)
      }
    })
  }
}
