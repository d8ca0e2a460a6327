/**
 * Wills held for `wills.delay` (memory mode), keyed by clientId: a client has
 * at most one pending will, its newest connection's. Pure: time is a parameter.
 * The Redis store (store-redis.ts) keeps the same semantics in Redis.
 */

export interface Held {
  clientId: string
  /** Epoch of the connection that ended (undefined if unknown). */
  epoch: number | undefined
  /** When it falls due (ms). */
  due: number
}

export class PendingWills<T extends Held> {
  readonly #byClient = new Map<string, T>()

  get size (): number { return this.#byClient.size }

  /** Hold a will; an older connection's pending will is replaced, a newer one is kept (returns false). */
  hold (entry: T): boolean {
    const existing = this.#byClient.get(entry.clientId)
    if (existing !== undefined && existing.epoch !== undefined && entry.epoch !== undefined && existing.epoch > entry.epoch) return false
    this.#byClient.set(entry.clientId, entry)
    return true
  }

  /**
   * A connection of `clientId` was accepted: its pending will is cancelled,
   * unless it belongs to a connection at least as new as `epoch`.
   */
  cancel (clientId: string, epoch?: number): T | undefined {
    const existing = this.#byClient.get(clientId)
    if (existing === undefined) return undefined
    if (epoch !== undefined && existing.epoch !== undefined && existing.epoch >= epoch) return undefined
    this.#byClient.delete(clientId)
    return existing
  }

  /** Remove and return every will due at `now`, earliest first. */
  takeDue (now: number): T[] {
    const due: T[] = []
    for (const entry of this.#byClient.values()) if (entry.due <= now) due.push(entry)
    for (const entry of due) this.#byClient.delete(entry.clientId)
    return due.sort((a, b) => a.due - b.due)
  }

  /** Remove and return everything (shutdown in memory mode: publish now rather than lose). */
  takeAll (): T[] {
    const all = [...this.#byClient.values()].sort((a, b) => a.due - b.due)
    this.#byClient.clear()
    return all
  }

  /** The earliest due time, or undefined when nothing is pending. */
  nextDue (): number | undefined {
    let next: number | undefined
    for (const entry of this.#byClient.values()) if (next === undefined || entry.due < next) next = entry.due
    return next
  }
}
