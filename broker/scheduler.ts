/**
 * Time as a dependency. Production binds it to the real clock and Node's
 * timers (unref'd: a pending sweep never keeps the process alive); tests bind
 * a ManualScheduler and move time instead of sleeping. Sweeps, pollers and
 * fences take their clock and their timers from the same scheduler, so a test
 * that moves time moves both.
 */
export interface ScheduledTask {
  cancel(): void
}

export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number
  /** Run `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): ScheduledTask
  /** Run `fn` every `ms` until cancelled (first run `ms` from now). */
  every(ms: number, fn: () => void): ScheduledTask
}

/** The real clock (or an injected `now`) with Node's timers. */
export function realScheduler (now: () => number = Date.now): Scheduler {
  return {
    now,
    after (ms, fn) {
      const t = setTimeout(fn, ms)
      t.unref()
      return { cancel: () => clearTimeout(t) }
    },
    every (ms, fn) {
      const t = setInterval(fn, ms)
      t.unref()
      return { cancel: () => clearInterval(t) }
    }
  }
}

interface Entry { at: number, seq: number, period: number, fn: () => void, cancelled: boolean }

/**
 * A clock that moves only when told: `advance(ms)` runs every task that falls
 * due, in time order (ties in scheduling order), each seeing `now()` at its
 * own due time. A task scheduled while advancing runs in the same advance if
 * it falls due inside it.
 */
export class ManualScheduler implements Scheduler {
  #now: number
  #seq = 0
  #entries: Entry[] = []

  constructor (start = 0) {
    this.#now = start
  }

  now (): number { return this.#now }

  after (ms: number, fn: () => void): ScheduledTask { return this.#add(ms, 0, fn) }

  every (ms: number, fn: () => void): ScheduledTask {
    if (!(ms > 0)) throw new RangeError(`interval must be > 0 ms, got ${ms}`)
    return this.#add(ms, ms, fn)
  }

  /** How many tasks are waiting (cancelled ones excluded). */
  get pending (): number { return this.#entries.filter((e) => !e.cancelled).length }

  advance (ms: number): void {
    const end = this.#now + Math.max(0, ms)
    for (;;) {
      let next: Entry | undefined
      for (const e of this.#entries) {
        if (e.cancelled || e.at > end) continue
        if (next === undefined || e.at < next.at || (e.at === next.at && e.seq < next.seq)) next = e
      }
      if (next === undefined) break
      this.#now = Math.max(this.#now, next.at)
      if (next.period > 0) {
        next.at += next.period
        next.seq = this.#seq++
      } else {
        next.cancelled = true
      }
      next.fn()
      this.#entries = this.#entries.filter((e) => !e.cancelled)
    }
    this.#now = end
  }

  #add (ms: number, period: number, fn: () => void): ScheduledTask {
    const entry: Entry = { at: this.#now + Math.max(0, ms), seq: this.#seq++, period, fn, cancelled: false }
    this.#entries.push(entry)
    return { cancel: () => { entry.cancelled = true } }
  }
}
