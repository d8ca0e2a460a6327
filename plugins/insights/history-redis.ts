/**
 * Transition histories in Redis (Redis mode): one list per device,
 * `vigil:history:<clientId>`, so they survive a restart and any node answers.
 * Writes are queued and sent once per tick in one pipeline: for each device
 * with new transitions one RPUSH of all of them, an LTRIM to the last 1,000
 * and a PEXPIRE of liveness.forgetAfter, so a device nobody hears from for
 * that long leaves nothing behind. The 7-day cap is applied on read.
 *
 * A failed pipeline is queued again (oldest first) up to MAX_PENDING entries;
 * beyond that the oldest are dropped and reported, never silently.
 */
import type { Redis } from 'ioredis'
import { HISTORY_MAX_TRANSITIONS, parseEntry, window, type HistoryEntry } from './availability.js'
import type { HistoryStore } from './history.js'

export const historyKey = (clientId: string): string => `vigil:history:${clientId}`

/** At most this many transitions wait for Redis; more means Redis has been away for long. */
export const MAX_PENDING = 200_000

export interface RedisHistoryOptions {
  redis: Redis
  /** Key expiry (ms): liveness.forgetAfter. */
  expireMs: number
  onError(err: unknown, what: string): void
}

export class RedisHistory implements HistoryStore {
  readonly #redis: Redis
  readonly #expireMs: number
  readonly #onError: (err: unknown, what: string) => void
  /** Per device, the JSON entries not written yet, in order. */
  #queue = new Map<string, string[]>()
  #pending = 0
  #flushing: Promise<void> | null = null
  /** Dropped since the last report. */
  #dropped = 0
  /** Pipelines sent and transitions written (for the benchmark and tests). */
  batches = 0
  written = 0

  constructor (options: RedisHistoryOptions) {
    this.#redis = options.redis
    this.#expireMs = options.expireMs
    this.#onError = options.onError
  }

  get pending (): number { return this.#pending }

  record (clientId: string, entry: HistoryEntry): void {
    let list = this.#queue.get(clientId)
    if (list === undefined) {
      list = []
      this.#queue.set(clientId, list)
    }
    list.push(JSON.stringify(entry))
    this.#pending++
    if (this.#pending > MAX_PENDING) this.#dropOldest()
  }

  async read (clientId: string, since: number, now: number): Promise<HistoryEntry[]> {
    const stored = await this.#redis.lrange(historyKey(clientId), 0, -1)
    const entries: HistoryEntry[] = []
    for (const text of stored) {
      const entry = parseEntry(text)
      if (entry !== null) entries.push(entry)
    }
    // What this node has not written yet is part of the history too.
    for (const text of this.#queue.get(clientId) ?? []) {
      const entry = parseEntry(text)
      if (entry !== null) entries.push(entry)
    }
    return window(entries, since, now)
  }

  async forget (clientId: string): Promise<void> {
    const queued = this.#queue.get(clientId)
    if (queued !== undefined) {
      this.#pending -= queued.length
      this.#queue.delete(clientId)
    }
    await this.#redis.del(historyKey(clientId))
  }

  /** Send everything queued in one pipeline; one flush at a time. */
  flush (): Promise<void> {
    if (this.#dropped > 0) {
      this.#onError(new Error('history queue full'), `${this.#dropped} transitions dropped: Redis is not taking history writes`)
      this.#dropped = 0
    }
    if (this.#flushing !== null) return this.#flushing
    if (this.#pending === 0) return Promise.resolve()
    const batch = this.#queue
    const count = this.#pending
    this.#queue = new Map()
    this.#pending = 0
    const pipeline = this.#redis.pipeline()
    for (const [clientId, entries] of batch) {
      const key = historyKey(clientId)
      pipeline.rpush(key, ...entries)
      pipeline.ltrim(key, -HISTORY_MAX_TRANSITIONS, -1)
      pipeline.pexpire(key, this.#expireMs)
    }
    this.#flushing = pipeline.exec().then((results) => {
      const failed = results?.find(([err]) => err !== null)?.[0]
      if (failed != null) throw failed
      this.batches++
      this.written += count
    }).catch((err: unknown) => {
      this.#requeue(batch)
      this.#onError(err, `history write of ${count} transitions failed; queued again`)
    }).finally(() => { this.#flushing = null })
    return this.#flushing
  }

  /** Put a failed batch back in front of what was queued since. */
  #requeue (batch: Map<string, string[]>): void {
    for (const [clientId, entries] of this.#queue) {
      const earlier = batch.get(clientId)
      batch.set(clientId, earlier === undefined ? entries : earlier.concat(entries))
    }
    let pending = 0
    for (const entries of batch.values()) pending += entries.length
    this.#queue = batch
    this.#pending = pending
    while (this.#pending > MAX_PENDING) this.#dropOldest()
  }

  #dropOldest (): void {
    const first = this.#queue.entries().next()
    if (first.done === true) return
    const [clientId, entries] = first.value
    entries.shift()
    this.#pending--
    if (entries.length === 0) this.#queue.delete(clientId)
    this.#dropped++
  }
}
