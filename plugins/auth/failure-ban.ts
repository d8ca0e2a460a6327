/**
 * `auth.failureBan`: bad credentials counted per source address in a sliding
 * window; `attempts` of them ban the address for `ban`. Pure: time is a
 * parameter. Bounded: an address whose window and ban are over is forgotten
 * on the next sweep, and the table never holds more than `maxAddresses` (a
 * flood from many spoofed-looking sources evicts the oldest, never grows).
 */
export interface FailureBanConfig { attempts: number, window: number, ban: number }

interface Record { failures: number[], bannedUntil: number }

export class FailureBan {
  readonly #config: FailureBanConfig
  readonly #byAddress = new Map<string, Record>()
  readonly #maxAddresses: number

  constructor (config: FailureBanConfig, maxAddresses = 100_000) {
    this.#config = config
    this.#maxAddresses = maxAddresses
  }

  banned (address: string, now: number): boolean {
    const record = this.#byAddress.get(address)
    return record !== undefined && record.bannedUntil > now
  }

  /** Count one failure; returns true when this failure starts a ban. */
  failed (address: string, now: number): boolean {
    let record = this.#byAddress.get(address)
    if (record === undefined) {
      if (this.#byAddress.size >= this.#maxAddresses) {
        const oldest = this.#byAddress.keys().next()
        if (oldest.done !== true) this.#byAddress.delete(oldest.value)
      }
      record = { failures: [], bannedUntil: 0 }
      this.#byAddress.set(address, record)
    }
    const since = now - this.#config.window
    while (record.failures.length > 0 && record.failures[0]! <= since) record.failures.shift()
    record.failures.push(now)
    if (record.failures.length >= this.#config.attempts && record.bannedUntil <= now) {
      record.bannedUntil = now + this.#config.ban
      record.failures.length = 0
      return true
    }
    return false
  }

  /** A successful login clears the address's count. */
  succeeded (address: string): void {
    const record = this.#byAddress.get(address)
    if (record !== undefined && record.bannedUntil === 0) this.#byAddress.delete(address)
  }

  /** Forget addresses with nothing left to remember. */
  sweep (now: number): void {
    const since = now - this.#config.window
    for (const [address, record] of this.#byAddress) {
      const last = record.failures[record.failures.length - 1] ?? 0
      if (record.bannedUntil <= now && last <= since) this.#byAddress.delete(address)
    }
  }

  get size (): number { return this.#byAddress.size }
}
