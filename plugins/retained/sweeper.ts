/**
 * The periodic sweep: every `retained.sweepInterval`, take what is due in
 * batches and hand each batch to the adapter, yielding to the event loop
 * between batches. Work is proportional to what is due (the store is ordered
 * by due time), and a sweep never holds the loop for more than one batch.
 * The first sweep, right after start-up, reconciles the store with the
 * retained messages the persistence already holds. Its clock and its timer
 * come from one injected Scheduler, so a test moves time instead of waiting.
 */
import type { ScheduledTask, Scheduler } from '../../broker/scheduler.js'
import { yieldToLoop, type Due, type RetainedStore } from './store.js'

export interface SweepDeps {
  store: RetainedStore
  /** The sweep's clock and its timer (ctx.scheduler). */
  scheduler: Scheduler
  /** How many due topics one batch takes (one loop turn). */
  batchSize: number
  /** Expire one batch of due topics; resolves with how many were expired. */
  expire(batch: Due[], now: number): Promise<number>
  /** Extra due work done in the same sweep (liveness-aware forgetting); resolves with a count. */
  alsoDue?(now: number): Promise<number>
  /** Start-up reconciliation; the first sweep awaits it. */
  reconcile?(): Promise<void>
  onError(err: unknown, what: string): void
  /** Called after every completed sweep. */
  onSweep?(result: SweepResult): void
}

export interface SweepResult { expired: number, forgotten: number, batches: number, ms: number }

export class Sweeper {
  readonly #deps: SweepDeps
  #timer: ScheduledTask | null = null
  #running: Promise<SweepResult> | null = null
  #stopped = false
  #reconciled = false

  constructor (deps: SweepDeps) {
    this.#deps = deps
  }

  /** Sweep now (reconciling first), then every `intervalMs`. */
  start (intervalMs: number): void {
    const tick = (): void => {
      this.#timer = null
      this.sweep().catch((err) => this.#deps.onError(err, 'retained sweep failed')).finally(() => {
        if (!this.#stopped) this.#timer = this.#deps.scheduler.after(intervalMs, tick)
      })
    }
    this.#timer = this.#deps.scheduler.after(0, tick)
  }

  /** One full sweep; concurrent calls share the running one. */
  sweep (): Promise<SweepResult> {
    this.#running ??= this.#sweep().finally(() => { this.#running = null })
    return this.#running
  }

  /** Stop scheduling and let a running sweep finish its current batch. */
  async stop (): Promise<void> {
    this.#stopped = true
    this.#timer?.cancel()
    this.#timer = null
    await this.#running?.catch(() => {})
  }

  async #sweep (): Promise<SweepResult> {
    const deps = this.#deps
    const started = performance.now()
    if (!this.#reconciled && deps.reconcile !== undefined) {
      await deps.reconcile()
      this.#reconciled = true
    }
    // One instant for the whole sweep: what falls due meanwhile waits for the next one.
    const now = deps.scheduler.now()
    let expired = 0
    let batches = 0
    while (!this.#stopped) {
      const batch = await deps.store.takeDue(now, deps.batchSize)
      if (batch.length > 0) {
        batches++
        expired += await deps.expire(batch, now)
      }
      if (batch.length < deps.batchSize) break
      await yieldToLoop()
    }
    const forgotten = this.#stopped || deps.alsoDue === undefined ? 0 : await deps.alsoDue(now)
    const result = { expired, forgotten, batches, ms: performance.now() - started }
    deps.onSweep?.(result)
    return result
  }
}
