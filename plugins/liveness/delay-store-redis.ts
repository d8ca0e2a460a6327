/**
 * The delay store in Redis (Redis mode): delayed ends survive a broker
 * restart and any node may release one when it falls due; exactly one does:
 * `takeDue` removes the due entries in one Lua script, so two nodes polling at
 * the same moment never both get an entry.
 *
 * Keys: `vigil:delayed-ends` (hash: `s:<clientId>` the delayed status,
 * `w:<clientId>` the delayed will, each JSON with its epoch and due time) and
 * `vigil:delayed-ends:due` (sorted set of clientIds by due time, ms). The two
 * parts of one connection's end are written by two plugins (liveness, wills)
 * and join in Redis; an older connection's never replaces a newer one's.
 */
import type { Redis } from 'ioredis'
import type { DelayedEnd, DelayedStatus, DelayedWill, WillProperties } from './delayed-end.js'
import type { DelayStore } from './delay-store.js'
import { orderedUserProperties, userPropertyPairs } from '../../broker/aedes/index.js'

export const DELAYED_KEY = 'vigil:delayed-ends'
export const DELAYED_DUE_KEY = 'vigil:delayed-ends:due'
/** How many due entries one poll claims; the rest wait for the next poll. */
const BATCH = 200

const EPOCH_OF = `
local function epochOf (v)
  if not v then return -1 end
  local e = cjson.decode(v).epoch
  if type(e) == 'number' then return e end
  return -1
end`

// KEYS: hash, zset. ARGV: clientId, epoch (-1 unknown), due, status JSON or '', will JSON or ''.
const PUT = `${EPOCH_OF}
local id = ARGV[1]
local n = tonumber(ARGV[2])
local s = redis.call('HGET', KEYS[1], 's:' .. id)
local w = redis.call('HGET', KEYS[1], 'w:' .. id)
if s or w then
  local e = epochOf(s or w)
  if e >= 0 and n >= 0 and e > n then return 0 end
  if e ~= n then redis.call('HDEL', KEYS[1], 's:' .. id, 'w:' .. id) end
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 's:' .. id, ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'w:' .. id, ARGV[5]) end
redis.call('ZADD', KEYS[2], ARGV[3], id)
return 1`

// Cancel unless the delayed end belongs to a connection at least as new. ARGV: clientId, epoch (-1: any).
const CANCEL = `${EPOCH_OF}
local id = ARGV[1]
local s = redis.call('HGET', KEYS[1], 's:' .. id)
local w = redis.call('HGET', KEYS[1], 'w:' .. id)
if not s and not w then return false end
local e = epochOf(s or w)
local n = tonumber(ARGV[2])
if e >= 0 and n >= 0 and e >= n then return false end
redis.call('HDEL', KEYS[1], 's:' .. id, 'w:' .. id)
redis.call('ZREM', KEYS[2], id)
return { s or '', w or '' }`

const TAKE_DUE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local s = redis.call('HGET', KEYS[1], 's:' .. id)
  local w = redis.call('HGET', KEYS[1], 'w:' .. id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], 's:' .. id, 'w:' .. id)
  if s or w then
    out[#out + 1] = id
    out[#out + 1] = s or ''
    out[#out + 1] = w or ''
  end
end
return out`

interface Part { epoch: number | null, due: number }
type StatusPart = Part & DelayedStatus
/** Buffers (payload, correlation data) as base64: JSON has no bytes. */
type WillPart = Part & Omit<DelayedWill, 'payload' | 'properties'> & { payload: string, properties?: StoredProperties }
/** User Properties as their pairs in wire order (JSON keeps no repeated name in place) [MQTT-3.3.2-18]. */
type StoredProperties = Omit<WillProperties, 'correlationData' | 'userProperties'> & { correlationData?: string, userPropertyPairs?: string[] }

const encodeProperties = (properties: WillProperties | undefined): StoredProperties | undefined => {
  if (properties === undefined) return undefined
  const { correlationData, userProperties, ...rest } = properties
  const out: StoredProperties = userProperties === undefined ? rest : { ...rest, userPropertyPairs: userPropertyPairs(userProperties) }
  return correlationData === undefined ? out : { ...out, correlationData: correlationData.toString('base64') }
}

const decodeProperties = (stored: StoredProperties | undefined): WillProperties | undefined => {
  if (stored === undefined || stored === null) return undefined
  const { correlationData, userPropertyPairs: pairs, ...rest } = stored
  // An entry stored before the pairs were: its userProperties object, as it was.
  const out: WillProperties = pairs === undefined ? rest : { ...rest, userProperties: orderedUserProperties(pairs) }
  return correlationData === undefined ? out : { ...out, correlationData: Buffer.from(correlationData, 'base64') }
}

const encodeStatus = (end: DelayedEnd): string =>
  end.status === null ? '' : JSON.stringify({ epoch: end.epoch ?? null, due: end.due, ...end.status } satisfies StatusPart)

const encodeWill = ({ epoch, due, will }: DelayedEnd): string =>
  will === null ? '' : JSON.stringify({ epoch: epoch ?? null, due, ...will, payload: will.payload.toString('base64'), properties: encodeProperties(will.properties) } satisfies WillPart)

function decode (clientId: string, statusText: string, willText: string): DelayedEnd {
  const status = statusText === '' ? null : JSON.parse(statusText) as StatusPart
  const will = willText === '' ? null : JSON.parse(willText) as WillPart
  const part: Part = (status ?? will)!
  return {
    clientId,
    epoch: part.epoch ?? undefined,
    due: part.due,
    status: status === null ? null : { status: status.status, topic: status.topic },
    will: will === null ? null : decodeWill(will)
  }
}

function decodeWill (will: WillPart): DelayedWill {
  const out: DelayedWill = { topic: will.topic, payload: Buffer.from(will.payload, 'base64'), qos: will.qos, retain: will.retain, reason: will.reason, at: will.at }
  const properties = decodeProperties(will.properties)
  if (properties !== undefined) out.properties = properties
  return out
}

export function redisDelayStore (redis: Redis): DelayStore {
  return {
    async put (part) {
      await redis.eval(PUT, 2, DELAYED_KEY, DELAYED_DUE_KEY, part.clientId, String(part.epoch ?? -1), String(part.due),
        encodeStatus(part), encodeWill(part))
    },
    async cancel (clientId, epoch) {
      const old = await redis.eval(CANCEL, 2, DELAYED_KEY, DELAYED_DUE_KEY, clientId, String(epoch ?? -1)) as [string, string] | null
      return old === null ? undefined : decode(clientId, old[0], old[1])
    },
    async takeDue (now) {
      const raw = await redis.eval(TAKE_DUE, 2, DELAYED_KEY, DELAYED_DUE_KEY, String(now), String(BATCH)) as string[]
      const out: DelayedEnd[] = []
      for (let i = 0; i + 2 < raw.length; i += 3) out.push(decode(raw[i]!, raw[i + 1]!, raw[i + 2]!))
      return out
    },
    nextDue: () => undefined,
    // Redis keeps them across the restart; whichever node polls first after they fall due releases them.
    drain: () => []
  }
}
