/**
 * CONNECT refusals at `info` with clientId, username, address and reason, but
 * never unbounded: a flood of wrong passwords writes at most `perSecond` lines
 * a second and then one summary line with the count it held back.
 */
import type { Logger } from '../../broker/logger.js'

export interface Refusal { clientId: string, username: string | undefined, address: string, reason: string }

export class RefusalLog {
  readonly #log: Logger
  readonly #now: () => number
  readonly #perSecond: number
  #windowStart = 0
  #written = 0
  #suppressed = 0

  constructor (log: Logger, now: () => number, perSecond = 20) {
    this.#log = log
    this.#now = now
    this.#perSecond = perSecond
  }

  refused (refusal: Refusal): void {
    const now = this.#now()
    if (now - this.#windowStart >= 1000) {
      if (this.#suppressed > 0) this.#log.info({ suppressed: this.#suppressed }, 'connect refusals not logged (rate limit)')
      this.#windowStart = now
      this.#written = 0
      this.#suppressed = 0
    }
    if (this.#written >= this.#perSecond) {
      this.#suppressed++
      return
    }
    this.#written++
    this.#log.info(refusal, 'connect refused')
  }
}
