/**
 * Delayed ends at work (`wills.delay`): liveness puts a connection's offline
 * status into the delay store, wills adds its will, a reconnect cancels both,
 * and when the delay runs out this releases both: the status through liveness,
 * the will through the wills plugin's handler. Memory mode: one timer at the
 * earliest due time. Redis mode: a poll, since any node's entry may fall due
 * (and exactly one node claims each). Time and timers come from the scheduler.
 */
import type { Scheduler, ScheduledTask } from '../../broker/scheduler.js'
import type { DelayedEnd, DelayedStatus, DelayedWill } from './delayed-end.js'
import type { DelayStore } from './delay-store.js'
import type { DelayedWillHandler } from './service.js'

/** Redis mode: how often each node looks for due entries (bounded by the delay). */
const POLL_MAX_MS = 500
const POLL_MIN_MS = 50

export interface DelayedEndsDeps {
  store: DelayStore
  scheduler: Scheduler
  /** wills.delay (ms). */
  delay: number
  /** Whether the store is shared (Redis): poll it rather than wait for a known due time. */
  shared: boolean
  /** Publish a delayed status whose delay ran out (or that could not be kept). */
  releaseStatus(delayed: DelayedStatus): void
  reportError(err: unknown, what: string): void
}

type WithWill = DelayedEnd & { will: DelayedWill }
const hasWill = (end: DelayedEnd): end is WithWill => {
  const { will } = end
  return will !== null
}

export class DelayedEnds {
  readonly #deps: DelayedEndsDeps
  #wills: DelayedWillHandler | null = null
  #timer: ScheduledTask | null = null
  #polling = false
  #closed = false
  /** Something was delayed here: by wills.delay, or by an MQTT 5 client's own Will Delay Interval even with wills.delay 0. */
  #inUse = false

  /** Delays can happen: wills.delay, or one was put here (a client's own Will Delay Interval). */
  get #active (): boolean { return this.#deps.delay > 0 || this.#inUse }

  constructor (deps: DelayedEndsDeps) {
    this.#deps = deps
  }

  handleWills (handler: DelayedWillHandler): void {
    this.#wills = handler
  }

  /** Delay a connection's offline status until `due`; if the store fails, it goes out now. */
  delayStatus (clientId: string, epoch: number, due: number, status: DelayedStatus): void {
    this.#inUse = true
    this.#deps.store.put({ clientId, epoch, due, status, will: null }).then(() => this.#schedule(), (err: unknown) => {
      this.#deps.reportError(err, 'could not delay an offline status; publishing it now')
      this.#deps.releaseStatus(status)
    })
  }

  /** Add a will (stamped) to its connection's delayed end. Rejects when it cannot be kept. */
  async delayWill (clientId: string, epoch: number | undefined, due: number, will: DelayedWill): Promise<void> {
    this.#inUse = true
    await this.#deps.store.put({ clientId, epoch, due, status: null, will })
    this.#schedule()
  }

  /** A connection with `epoch` was accepted, or the client was forgotten (no epoch): cancel its older delayed end. */
  cancel (clientId: string, epoch?: number): void {
    // Redis mode: an MQTT 5 client's own delay may have been put by another node, so every node cancels.
    if (!this.#active && !this.#deps.shared) return
    this.#deps.store.cancel(clientId, epoch).then((cancelled) => {
      if (cancelled !== undefined && hasWill(cancelled)) this.#wills?.cancelled(cancelled, epoch === undefined ? 'forgotten' : 'reconnected')
    }, (err: unknown) => this.#deps.reportError(err, 'cancelling a delayed end failed'))
  }

  start (): void {
    // Redis mode: entries of a previous run (or of any node) are picked up from here.
    this.#schedule()
  }

  /** Memory mode shutdown: what is delayed goes out now rather than be lost (Redis keeps it). */
  async releaseAll (): Promise<void> {
    for (const end of this.#deps.store.drain()) await this.#release(end)
  }

  close (): void {
    this.#closed = true
    this.#timer?.cancel()
    this.#timer = null
  }

  async #release (end: DelayedEnd): Promise<void> {
    if (end.status !== null) {
      try { this.#deps.releaseStatus(end.status) } catch (err) { this.#deps.reportError(err, 'releasing a delayed status failed') }
    }
    if (hasWill(end) && this.#wills !== null) {
      await this.#wills.due(end).catch((err: unknown) => this.#deps.reportError(err, 'publishing a delayed will failed'))
    }
  }

  async #poll (): Promise<void> {
    if (this.#polling || this.#closed) return
    this.#polling = true
    try {
      for (const end of await this.#deps.store.takeDue(this.#deps.scheduler.now())) await this.#release(end)
    } catch (err) {
      this.#deps.reportError(err, 'polling delayed ends failed')
    } finally {
      this.#polling = false
      this.#schedule()
    }
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer?.cancel()
    this.#timer = null
    let wait: number
    if (this.#deps.shared) {
      if (!this.#active) return
      wait = Math.max(POLL_MIN_MS, Math.min(POLL_MAX_MS, Math.floor(Math.max(this.#deps.delay, 2000) / 4)))
    } else {
      const next = this.#deps.store.nextDue()
      if (next === undefined) return
      wait = Math.max(POLL_MIN_MS, next - this.#deps.scheduler.now())
    }
    this.#timer = this.#deps.scheduler.after(wait, () => { void this.#poll() })
  }
}
