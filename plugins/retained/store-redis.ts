/**
 * Redis mode: store times in two sorted sets shared by every node.
 *   vigil:retained:stored  topic -> store time (ms): survives broker restarts
 *   vigil:retained:due     topic -> due time (ms), only topics a rule expires
 * Every change is one Lua script, so a republish and a sweep never interleave
 * half-way, and taking due topics is atomic: ZRANGEBYSCORE + ZREM in one
 * script hands each due topic to exactly one node, whichever nodes sweep. A
 * republish moves the due time forward before the sweep can take it, so it lives on.
 *
 * Reconciliation reads aedes-persistence-redis' retained hash (`retained`,
 * topic -> packet; see node_modules/aedes-persistence-redis/asyncPersistence.js).
 */
import type { Redis } from 'ioredis'
import { yieldToLoop, type Due, type RetainedStore } from './store.js'

export const STORED_KEY = 'vigil:retained:stored'
export const DUE_KEY = 'vigil:retained:due'
/** aedes-persistence-redis' hash of retained packets (non-cluster Redis). */
export const PERSISTENCE_RETAINED_KEY = 'retained'

const SCAN_COUNT = 500

const RECORD = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1`

const CLEAR = `
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])`

// Returns a flat list: topic, storedAt, dueAt, topic, storedAt, dueAt, ...
const TAKE_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  local topic = due[i]
  local stored = redis.call('ZSCORE', KEYS[1], topic)
  redis.call('ZREM', KEYS[2], topic)
  redis.call('ZREM', KEYS[1], topic)
  out[#out + 1] = topic
  out[#out + 1] = stored or due[i + 1]
  out[#out + 1] = due[i + 1]
end
return out`

// ARGV: now, then pairs (topic, maxAge or -1). Adopts unknown retained topics
// at now, recomputes due times from the stored time, drops records of topics
// no longer retained. Returns how many were adopted.
const ADOPT = `
local now = tonumber(ARGV[1])
local adopted = 0
for i = 2, #ARGV, 2 do
  local topic = ARGV[i]
  local maxAge = tonumber(ARGV[i + 1])
  if redis.call('HEXISTS', KEYS[3], topic) == 0 then
    redis.call('ZREM', KEYS[1], topic)
    redis.call('ZREM', KEYS[2], topic)
  else
    local stored = redis.call('ZSCORE', KEYS[1], topic)
    if not stored then
      stored = now
      redis.call('ZADD', KEYS[1], now, topic)
      adopted = adopted + 1
    else
      stored = tonumber(stored)
    end
    if maxAge >= 0 then
      redis.call('ZADD', KEYS[2], stored + maxAge, topic)
    else
      redis.call('ZREM', KEYS[2], topic)
    end
  end
end
return adopted`

// ARGV: topics. Drops records whose retained message is gone.
const PRUNE = `
local pruned = 0
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then
    redis.call('ZREM', KEYS[2], ARGV[i])
    pruned = pruned + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return pruned`

interface RetainedCommands {
  vigilRetainedRecord(stored: string, due: string, topic: string, storedAt: number, dueAt: number | ''): Promise<number>
  vigilRetainedClear(stored: string, due: string, topic: string): Promise<number>
  vigilRetainedTakeDue(stored: string, due: string, now: number, limit: number): Promise<string[]>
  vigilRetainedAdopt(stored: string, due: string, hash: string, now: number, ...pairs: Array<string | number>): Promise<number>
  vigilRetainedPrune(stored: string, due: string, hash: string, ...topics: string[]): Promise<number>
}

export class RedisRetainedStore implements RetainedStore {
  readonly #redis: Redis & RetainedCommands
  readonly #onError: (err: unknown, what: string) => void

  constructor (redis: Redis, onError: (err: unknown, what: string) => void) {
    const commands: Array<[keyof RetainedCommands, number, string]> = [
      ['vigilRetainedRecord', 2, RECORD],
      ['vigilRetainedClear', 2, CLEAR],
      ['vigilRetainedTakeDue', 2, TAKE_DUE],
      ['vigilRetainedAdopt', 3, ADOPT],
      ['vigilRetainedPrune', 3, PRUNE]
    ]
    for (const [name, numberOfKeys, lua] of commands) {
      // Several Vigil instances may share one connection object only in tests; defining twice is harmless.
      if (typeof Reflect.get(redis, name) !== 'function') redis.defineCommand(name, { numberOfKeys, lua })
    }
    this.#redis = redis as Redis & RetainedCommands
    this.#onError = onError
  }

  record (topic: string, storedAt: number, dueAt: number | null): void {
    this.#redis.vigilRetainedRecord(STORED_KEY, DUE_KEY, topic, storedAt, dueAt ?? '')
      .catch((err: unknown) => this.#onError(err, 'recording a retained store time failed'))
  }

  clear (topic: string): void {
    this.#redis.vigilRetainedClear(STORED_KEY, DUE_KEY, topic)
      .catch((err: unknown) => this.#onError(err, 'clearing a retained store time failed'))
  }

  async takeDue (now: number, limit: number): Promise<Due[]> {
    const flat = await this.#redis.vigilRetainedTakeDue(STORED_KEY, DUE_KEY, now, limit)
    const out: Due[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ key: flat[i]!, storedAt: Number(flat[i + 1]), dueAt: Number(flat[i + 2]) })
    }
    return out
  }

  async reconcile (now: number, maxAgeOf: (topic: string) => number | null): Promise<number> {
    const redis = this.#redis
    let adopted = 0
    let cursor = '0'
    do {
      // Values come along (Redis 7.0 has no HSCAN NOVALUES); they are skipped undecoded.
      const [next, flat] = await redis.hscanBuffer(PERSISTENCE_RETAINED_KEY, cursor, 'COUNT', SCAN_COUNT)
      cursor = next.toString()
      const pairs: Array<string | number> = []
      for (let i = 0; i < flat.length; i += 2) {
        const topic = flat[i]!.toString()
        pairs.push(topic, maxAgeOf(topic) ?? -1)
      }
      if (pairs.length > 0) adopted += await redis.vigilRetainedAdopt(STORED_KEY, DUE_KEY, PERSISTENCE_RETAINED_KEY, now, ...pairs)
      await yieldToLoop()
    } while (cursor !== '0')
    cursor = '0'
    do {
      const [next, flat] = await redis.zscan(STORED_KEY, cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      const topics: string[] = []
      for (let i = 0; i < flat.length; i += 2) topics.push(flat[i]!)
      if (topics.length > 0) await redis.vigilRetainedPrune(STORED_KEY, DUE_KEY, PERSISTENCE_RETAINED_KEY, ...topics)
      await yieldToLoop()
    } while (cursor !== '0')
    return adopted
  }

  async size (): Promise<number> {
    return await this.#redis.zcard(STORED_KEY)
  }
}
