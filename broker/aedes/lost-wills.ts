/**
 * The wills a node left in Redis, read in one pass. aedes-persistence-redis'
 * streamWill GETs every will of every node one round trip after the other:
 * 5,000 wills of a lost node took 2 to 4 s before the first was published,
 * a third of the 15 s a node loss may take. Here the will list is read once,
 * only the lost node's keys are kept, and their values come in MGET batches.
 *
 * This reads aedes-persistence-redis' layout (v12): the list `will` holds the
 * keys `will:<brokerId>:<encodeURIComponent(clientId)>`, each a msgpack-encoded
 * packet carrying clientId and brokerId (test/unit/aedes-boundary.test.ts pins
 * the wills key layout).
 */
/// <reference path="../../types/msgpack-lite.d.ts" />
import type { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'

const WILLS_LIST = 'will'
const BATCH = 500

export async function willsInRedis<T> (redis: Redis, nodeId: string): Promise<T[]> {
  const prefix = `will:${nodeId}:`
  const keys = [...new Set((await redis.lrange(WILLS_LIST, 0, -1)).filter((k) => k.startsWith(prefix)))]
  const out: T[] = []
  for (let i = 0; i < keys.length; i += BATCH) {
    const values = await redis.mgetBuffer(...keys.slice(i, i + BATCH))
    for (const value of values) if (value !== null) out.push(msgpack.decode(value) as T)
  }
  return out
}
