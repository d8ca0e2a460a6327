/**
 * `limits.publishRate` as a token bucket: `rate` tokens a second, holding at
 * most `burst` (2 x rate); a PUBLISH takes one. Pure: time is a parameter,
 * two numbers per client, no allocation per call.
 */
export class TokenBucket {
  #tokens: number
  #last: number
  readonly #perMs: number
  readonly #burst: number

  constructor (rate: number, now: number, burst = 2 * rate) {
    this.#perMs = rate / 1000
    this.#burst = Math.max(1, burst)
    this.#tokens = this.#burst
    this.#last = now
  }

  /** Take one token; false when the client is over its rate. */
  take (now: number): boolean {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs)
      this.#last = now
    }
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
