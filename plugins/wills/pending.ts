/**
 * Wills held for `wills.delay` (memory mode), keyed by clientId: a client has
 * at most one pending will, its newest connection's. Pure: time is a parameter.
 * The Redis store (store-redis.ts) keeps the same semantics in Redis.
 *
 * Due times sit in a DueIndex (a heap): holding, cancelling and the earliest
 * due time cost O(log n), taking what is due O(k log n). A scan of every
 * pending will on each hold and each due time cost O(n) per disconnect (issue
 * 15): 50,000 wills held one after the other took 11 s of event loop, and
 * publishing them as they fell due 37 s.
 */
import { DueIndex } from '../retained/due-index.js'

export interface Held {
  clientId: string
  /** Epoch of the connection that ended (undefined if unknown). */
  epoch: number | undefined
  /** When it falls due (ms). */
  due: number
}

export class PendingWills<T extends Held> {
  readonly #byClient = new Map<string, T>()
  readonly #due = new DueIndex()

  get size (): number { return this.#byClient.size }

  /** Hold a will; an older connection's pending will is replaced, a newer one is kept (returns false). */
  hold (entry: T): boolean {
    const existing = this.#byClient.get(entry.clientId)
    if (existing !== undefined && existing.epoch !== undefined && entry.epoch !== undefined && existing.epoch > entry.epoch) return false
    this.#byClient.set(entry.clientId, entry)
    this.#due.record(entry.clientId, entry.due, entry.due)
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
    this.#due.clear(clientId)
    return existing
  }

  /** Remove and return every will due at `now`, earliest first. */
  takeDue (now: number): T[] {
    const due: T[] = []
    for (const { key } of this.#due.takeDue(now, Number.POSITIVE_INFINITY)) {
      due.push(this.#byClient.get(key)!)
      this.#byClient.delete(key)
    }
    return due
  }

  /** Remove and return everything (shutdown in memory mode: publish now rather than lose). */
  takeAll (): T[] {
    const all = [...this.#byClient.values()].sort((a, b) => a.due - b.due)
    this.#byClient.clear()
    for (const entry of all) this.#due.clear(entry.clientId)
    return all
  }

  /** The earliest due time, or undefined when nothing is pending. */
  nextDue (): number | undefined {
    return this.#due.nextDue() ?? undefined
  }
}
