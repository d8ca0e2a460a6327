/**
 * A client's membership of the fleet beyond one connection, owned by
 * liveness: forgetting a client offline longer than `liveness.forgetAfter`
 * (forgetting.ts), kicking a client wherever it is connected (kick-relay.ts)
 * and decommissioning it (decommission.ts).
 */
import type { Redis } from 'ioredis'
import type { Aedes } from 'aedes'
import { liveClient, persistenceOf } from '../../broker/aedes/index.js'
import { publishAsync } from '../../broker/publish.js'
import type { Scheduler } from '../../broker/scheduler.js'
import type { DecommissionService } from '../api/decommission-service.js'
import { createDecommission } from './decommission.js'
import { Forgetting } from './forgetting.js'
import { KickRelay } from './kick-relay.js'
import type { LivenessService } from './service.js'

/** Clients forgotten per loop turn of a sweep. */
const FORGET_BATCH = 128
/** Cluster claim on forgetting one offline spell of a client. */
const FORGET_CLAIM_MS = 30_000
/** How long a kick waits for every node's reply. */
const KICK_TIMEOUT_MS = 3000

export interface MembershipDeps {
  broker: Aedes
  nodeId: string
  redis: Redis | null
  /** A dedicated connection for the kick relay's SUBSCRIBE (null in memory mode). */
  subscriber: Redis | null
  scheduler: Scheduler
  liveness: Pick<LivenessService, 'onTransition' | 'list' | 'get' | 'forget' | 'kick'>
  forgetAfter: number
  statusTopicOf(clientId: string): string | undefined
  reportError(err: unknown, what: string): void
}

export class Membership {
  readonly decommission: DecommissionService
  readonly #forgetting: Forgetting
  readonly #relay: KickRelay
  readonly #kickListeners = new Set<(clientId: string) => void>()

  constructor (deps: MembershipDeps) {
    const { broker, redis, nodeId, liveness, scheduler, reportError } = deps
    this.#forgetting = new Forgetting({
      liveness,
      forgetAfter: deps.forgetAfter,
      batchSize: FORGET_BATCH,
      onError: reportError,
      claim: async (clientId, epoch, since) => {
        if (redis === null) return true
        const key = `vigil:liveness:forget:${epoch}:${since}:${clientId}`
        return await redis.set(key, nodeId, 'PX', FORGET_CLAIM_MS, 'NX') === 'OK'
      }
    })
    this.#relay = new KickRelay({
      redis,
      subscriber: deps.subscriber,
      requested: (clientId) => {
        for (const listener of this.#kickListeners) {
          try { listener(clientId) } catch (err) { reportError(err, 'kick listener failed') }
        }
      },
      kickLocal: (clientId) => liveness.kick(clientId, 'kicked'),
      timeoutMs: KICK_TIMEOUT_MS,
      scheduler,
      onError: reportError
    })
    this.decommission = createDecommission({
      liveness,
      statusTopicOf: deps.statusTopicOf,
      relay: this.#relay,
      scheduler,
      connectedHere: (clientId) => liveClient(broker, clientId) !== undefined,
      retainedTopics: async (filters) => {
        const topics = new Set<string>()
        for await (const packet of persistenceOf(broker).createRetainedStreamCombi(filters)) topics.add(packet.topic)
        return [...topics]
      },
      clearRetained: (topic) => publishAsync(broker, { cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 1, retain: true, dup: false })
    })
  }

  /** After the fleet view is loaded: follow offline clients, listen for kicks. */
  async start (): Promise<void> {
    this.#forgetting.start()
    await this.#relay.start()
  }

  stop (): void {
    this.#forgetting.stop()
  }

  forgetDue (now: number): Promise<number> { return this.#forgetting.sweep(now) }

  kickEverywhere (clientId: string): Promise<boolean> { return this.#relay.kick(clientId) }

  onKickRequested (listener: (clientId: string) => void): () => void {
    this.#kickListeners.add(listener)
    return () => { this.#kickListeners.delete(listener) }
  }
}
