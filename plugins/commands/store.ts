/**
 * Where command records are kept for GET .../commands/{id}: in Redis in Redis
 * mode (any node answers; a TTL bounds them), else in a bounded in-memory map.
 */
import type { Redis } from 'ioredis'
import type { CommandRecord } from './messages.js'

export const RECORD_TTL_MS = 24 * 3_600_000
export const MEMORY_RECORD_LIMIT = 10_000

export interface CommandStore {
  put(clientId: string, record: CommandRecord): Promise<void>
  get(clientId: string, id: string): Promise<CommandRecord | undefined>
}

/** Insertion-ordered: past the limit the oldest record goes; an expired one reads as absent. */
export class MemoryCommandStore implements CommandStore {
  readonly #records = new Map<string, { record: CommandRecord, expires: number }>()
  readonly #now: () => number
  readonly #limit: number
  readonly #ttlMs: number
  constructor (now: () => number, limit = MEMORY_RECORD_LIMIT, ttlMs = RECORD_TTL_MS) {
    this.#now = now
    this.#limit = limit
    this.#ttlMs = ttlMs
  }

  async put (clientId: string, record: CommandRecord): Promise<void> {
    const key = `${clientId}\u0000${record.id}`
    this.#records.delete(key)
    this.#records.set(key, { record, expires: this.#now() + this.#ttlMs })
    while (this.#records.size > this.#limit) {
      const oldest = this.#records.keys().next().value as string
      this.#records.delete(oldest)
    }
  }

  async get (clientId: string, id: string): Promise<CommandRecord | undefined> {
    const key = `${clientId}\u0000${id}`
    const entry = this.#records.get(key)
    if (entry === undefined) return undefined
    if (entry.expires <= this.#now()) {
      this.#records.delete(key)
      return undefined
    }
    return entry.record
  }

  get size (): number {
    return this.#records.size
  }
}

export class RedisCommandStore implements CommandStore {
  readonly #redis: Redis
  readonly #ttlMs: number
  constructor (redis: Redis, ttlMs = RECORD_TTL_MS) {
    this.#redis = redis
    this.#ttlMs = ttlMs
  }

  static key (clientId: string, id: string): string {
    // The id (a uuid) is last and fixed-format, so the key is unambiguous for any clientId.
    return `vigil:commands:${clientId}:${id}`
  }

  async put (clientId: string, record: CommandRecord): Promise<void> {
    await this.#redis.set(RedisCommandStore.key(clientId, record.id), JSON.stringify(record), 'PX', this.#ttlMs)
  }

  async get (clientId: string, id: string): Promise<CommandRecord | undefined> {
    const text = await this.#redis.get(RedisCommandStore.key(clientId, id))
    return text === null ? undefined : JSON.parse(text) as CommandRecord
  }
}
