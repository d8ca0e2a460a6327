/**
 * Pending wills in Redis (Redis mode): they survive a broker restart and any
 * node may publish one when it falls due, exactly one does: `takeDue` removes
 * the due entries in one Lua script, so two nodes polling at the same moment
 * never both get an entry.
 *
 * Keys: `vigil:wills:pending` (hash clientId -> JSON), `vigil:wills:due`
 * (sorted set clientId by due time, ms).
 */
import type { Redis } from 'ioredis'
import { decodeHeld, encodeHeld, type HeldWill, type PendingStore } from './held-will.js'

export const PENDING_KEY = 'vigil:wills:pending'
export const DUE_KEY = 'vigil:wills:due'
/** How many due wills one poll claims; the rest wait for the next poll. */
const BATCH = 200

// A newer connection's pending will is never replaced by an older one's.
const HOLD = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local e = cjson.decode(old).epoch
  local n = tonumber(ARGV[4])
  if type(e) == 'number' and n >= 0 and e > n then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`

// Cancel unless the pending will belongs to a connection at least as new.
const CANCEL = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
local e = cjson.decode(old).epoch
local n = tonumber(ARGV[2])
if type(e) == 'number' and n >= 0 and e >= n then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return old`

const TAKE_DUE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
  if v then out[#out + 1] = v end
end
return out`

export function redisPendingStore (redis: Redis): PendingStore {
  return {
    async hold (will) {
      await redis.eval(HOLD, 2, PENDING_KEY, DUE_KEY, will.clientId, encodeHeld(will), String(will.due), String(will.epoch ?? -1))
    },
    async cancel (clientId, epoch) {
      const old = await redis.eval(CANCEL, 2, PENDING_KEY, DUE_KEY, clientId, String(epoch ?? -1)) as string | null
      return old === null ? undefined : decodeHeld(old)
    },
    async takeDue (now) {
      const raw = await redis.eval(TAKE_DUE, 2, PENDING_KEY, DUE_KEY, String(now), String(BATCH)) as string[]
      return raw.map(decodeHeld)
    },
    nextDue: () => undefined,
    // Redis keeps them across the restart; whichever node polls first after they fall due publishes them.
    drain: () => []
  }
}
