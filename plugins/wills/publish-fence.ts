/**
 * Cross-node ordering of a will and a reconnect (Redis mode). A client drops
 * off node A and reconnects on node B: B takes the new epoch (INCR) before its
 * CONNACK, but A may already be publishing the old connection's will, which
 * would then reach subscribers after the new session began [docs/topics-and-payloads.md].
 *
 * The fence: A lets a will out only through one atomic script that checks the
 * epoch is still the will's own and marks the clientId "will in flight"; A
 * clears the mark once the will is published (mqemitter-redis acknowledges an
 * emit after Redis has fanned it out). B, right after its INCR, waits while the
 * mark stands (bounded by its TTL) before it completes the CONNECT. Either A
 * sees the newer epoch and suppresses the will, or the will is out before B's
 * CONNACK.
 */
import type { Redis } from 'ioredis'
import type { Scheduler } from '../../broker/scheduler.js'
import { epochKey } from '../liveness/epochs.js'

/** A fence outlives no publish: a node that died mid-publish blocks a reconnect at most this long. */
export const FENCE_TTL_MS = 2000
const POLL_MS = 10
const fenceKey = (clientId: string): string => `vigil:wills:in-flight:${clientId}`

/** KEYS[1] epoch, KEYS[2] fence; ARGV[1] the will's epoch, ARGV[2] TTL ms. 1: publish; 0: a newer epoch exists. */
const OPEN_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1`

export interface PublishFence {
  /** Atomically: false if a newer epoch exists (suppress), else mark the will in flight. */
  open(clientId: string, willEpoch: number): Promise<boolean>
  /** The will is out: reconnects may complete. */
  close(clientId: string): Promise<void>
  /** Wait (at most FENCE_TTL_MS) until no will of this clientId is in flight. */
  waitClear(clientId: string): Promise<void>
}

/** `scheduler`: the clock and timer the wait for a clear fence runs on. */
export function redisPublishFence (redis: Redis, scheduler: Scheduler): PublishFence {
  return {
    async open (clientId, willEpoch) {
      const result = await redis.eval(OPEN_SCRIPT, 2, epochKey(clientId), fenceKey(clientId), willEpoch, FENCE_TTL_MS)
      return result === 1
    },
    async close (clientId) {
      await redis.del(fenceKey(clientId))
    },
    async waitClear (clientId) {
      const deadline = scheduler.now() + FENCE_TTL_MS
      while (await redis.exists(fenceKey(clientId)) === 1 && scheduler.now() < deadline) {
        await new Promise<void>((resolve) => { scheduler.after(POLL_MS, resolve) })
      }
    }
  }
}
