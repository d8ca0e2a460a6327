/**
 * Connection epochs: +1 on every accepted CONNECT of a clientId
 * (docs/topics-and-payloads.md). In memory mode a counter per clientId; in Redis mode `INCR` on
 * `vigil:epoch:<clientId>`, so epochs are monotonic across nodes and restarts.
 */
import type { Redis } from 'ioredis'

export const epochKey = (clientId: string): string => `vigil:epoch:${clientId}`

export interface EpochSource {
  /** The epoch for a new connection of `clientId`. */
  next(clientId: string): number | Promise<number>
  /** The newest epoch this node handed out or learnt for `clientId`, or 0. */
  latest(clientId: string): number
  /** The newest epoch anywhere (Redis mode asks Redis); used before publishing an end. */
  newest(clientId: string): number | Promise<number>
  /** Remember an epoch seen elsewhere (e.g. loaded from a retained status). */
  learn(clientId: string, epoch: number): void
}

export function memoryEpochs (): EpochSource {
  const counters = new Map<string, number>()
  return {
    next (clientId) {
      const epoch = (counters.get(clientId) ?? 0) + 1
      counters.set(clientId, epoch)
      return epoch
    },
    latest: (clientId) => counters.get(clientId) ?? 0,
    newest: (clientId) => counters.get(clientId) ?? 0,
    learn (clientId, epoch) {
      if (epoch > (counters.get(clientId) ?? 0)) counters.set(clientId, epoch)
    }
  }
}

export function redisEpochs (redis: Redis): EpochSource {
  const latest = new Map<string, number>()
  const learn = (clientId: string, epoch: number): void => {
    if (epoch > (latest.get(clientId) ?? 0)) latest.set(clientId, epoch)
  }
  return {
    async next (clientId) {
      const epoch = await redis.incr(epochKey(clientId))
      learn(clientId, epoch)
      return epoch
    },
    latest: (clientId) => latest.get(clientId) ?? 0,
    async newest (clientId) {
      const value = Number(await redis.get(epochKey(clientId)) ?? 0)
      learn(clientId, value)
      return Math.max(value, latest.get(clientId) ?? 0)
    },
    learn
  }
}
