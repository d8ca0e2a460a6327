/**
 * Rate limit for log lines that clients can cause (connects, refusals,
 * protocol errors): per kind, at most `lines` lines per window of `windowMs`;
 * what is held back is counted and summed up in one line when the window
 * ends. A flood of 25,000 malformed connections writes `lines` lines and a
 * summary per window, not 25,000. Pure: time is a parameter.
 */
export interface LimitPolicy {
  /** Lines of one kind written per window; 0 suppresses every line (summaries still come). */
  lines: number
  windowMs: number
}

export interface Suppressed<K extends string = string> {
  kind: K
  /** Lines held back in the window. */
  suppressed: number
  /** When the window began and ended (ms). */
  from: number
  to: number
}

interface Window { start: number, count: number, suppressed: number }

export class LogLimiter<K extends string> {
  readonly #policy: LimitPolicy
  readonly #windows = new Map<K, Window>()

  constructor (policy: LimitPolicy) {
    if (!(policy.windowMs > 0)) throw new Error('log rate limit: the window must be more than 0 ms')
    this.#policy = policy
  }

  /**
   * Whether a line of `kind` at `now` is written. When the kind's previous
   * window has ended with lines held back, its summary comes first (write it
   * before the line).
   */
  admit (kind: K, now: number): { write: boolean, summary: Suppressed<K> | null } {
    let window = this.#windows.get(kind)
    let summary: Suppressed<K> | null = null
    if (window === undefined) {
      window = { start: now, count: 0, suppressed: 0 }
      this.#windows.set(kind, window)
    } else if (now - window.start >= this.#policy.windowMs) {
      summary = this.#end(kind, window, now)
    }
    if (window.count < this.#policy.lines) {
      window.count++
      return { write: true, summary }
    }
    window.suppressed++
    return { write: false, summary }
  }

  /**
   * Summaries of every window ended by `now` (every window, with `all`) with
   * lines held back; call it on a timer so a flood that stops is summed up too.
   */
  flush (now: number, all = false): Array<Suppressed<K>> {
    const out: Array<Suppressed<K>> = []
    for (const [kind, window] of this.#windows) {
      if (!all && now - window.start < this.#policy.windowMs) continue
      const summary = this.#end(kind, window, now)
      if (summary !== null) out.push(summary)
      // An idle kind is forgotten: the map holds only kinds seen lately.
      if (window.count === 0) this.#windows.delete(kind)
    }
    return out
  }

  #end (kind: K, window: Window, now: number): Suppressed<K> | null {
    const summary = window.suppressed > 0 ? { kind, suppressed: window.suppressed, from: window.start, to: now } : null
    window.start = now
    window.count = 0
    window.suppressed = 0
    return summary
  }
}
