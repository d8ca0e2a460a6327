/**
 * Reboot baselines in Redis (Redis mode): the last `boot` counter and the last
 * heartbeat `uptime` seen of each device, in `vigil:insight:<clientId>`, so a
 * device that reboots while it moves to another node, or while the broker
 * restarts, is still seen to reboot. Written in the insights tick's batch
 * (the boot at each birth, the uptime when a connection ends: not per
 * heartbeat), read once per device per node, when that node first hears
 * from it. Expires with liveness.forgetAfter.
 */
import type { Redis } from 'ioredis'

export const baselineKey = (clientId: string): string => `vigil:insight:${clientId}`

export interface Baseline { boot: number | null, uptime: number | null }

export class RedisBaselines {
  readonly #redis: Redis
  readonly #expireMs: number
  #queue = new Map<string, Baseline>()

  constructor (redis: Redis, expireMs: number) {
    this.#redis = redis
    this.#expireMs = expireMs
  }

  /** Queue what is known now (null fields are left as stored). */
  note (clientId: string, boot: number | null, uptime: number | null): void {
    if (boot === null && uptime === null) return
    const queued = this.#queue.get(clientId)
    if (queued === undefined) {
      this.#queue.set(clientId, { boot, uptime })
      return
    }
    if (boot !== null) queued.boot = boot
    if (uptime !== null) queued.uptime = uptime
  }

  async load (clientId: string): Promise<Baseline> {
    const [boot, uptime] = await this.#redis.hmget(baselineKey(clientId), 'boot', 'uptime')
    const num = (text: string | null): number | null => text === null || !Number.isFinite(Number(text)) ? null : Number(text)
    return { boot: num(boot), uptime: num(uptime) }
  }

  async forget (clientId: string): Promise<void> {
    this.#queue.delete(clientId)
    await this.#redis.del(baselineKey(clientId))
  }

  /** Write what is queued in one pipeline; a failure is reported by the caller and the batch dropped (baselines are a hint). */
  async flush (): Promise<void> {
    if (this.#queue.size === 0) return
    const batch = this.#queue
    this.#queue = new Map()
    const pipeline = this.#redis.pipeline()
    for (const [clientId, baseline] of batch) {
      const key = baselineKey(clientId)
      const fields: Record<string, number> = {}
      if (baseline.boot !== null) fields.boot = baseline.boot
      if (baseline.uptime !== null) fields.uptime = baseline.uptime
      pipeline.hset(key, fields)
      pipeline.pexpire(key, this.#expireMs)
    }
    const results = await pipeline.exec()
    const failed = results?.find(([err]) => err !== null)?.[0]
    if (failed != null) throw failed
  }
}
