/**
 * Kick a client wherever it is connected (decommission). Memory mode: this
 * node only. Redis mode: the client may be on another node, so the request
 * goes out on a Redis pub/sub channel every node (this one included) listens
 * on; each node tells its listeners first (the retained plugin keeps clear the
 * client's retained topics), kicks it if it is connected there and replies.
 * The requester knows how many nodes heard it (PUBLISH returns the count) and
 * waits for that many replies, or a timeout.
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Scheduler } from '../../broker/scheduler.js'

export const KICK_CHANNEL = 'vigil:liveness:kick'
export const KICK_REPLY_CHANNEL = 'vigil:liveness:kick-reply'

export interface KickRelayDeps {
  /** Command connection (null in memory mode). */
  redis: Redis | null
  /** A dedicated connection for SUBSCRIBE (null in memory mode). */
  subscriber: Redis | null
  /** Every node, before the kick: tell who must act first (the retained plugin keeps the client's topics clear). */
  requested(clientId: string): void
  /** Disconnect the client if it is connected to this node (reason kicked). */
  kickLocal(clientId: string): Promise<boolean>
  timeoutMs: number
  scheduler: Scheduler
  onError(err: unknown, what: string): void
}

interface Request { id: string, clientId: string }
interface Reply { id: string, kicked: boolean }
interface Pending { expected: number, replies: number, kicked: boolean, resolve(kicked: boolean): void }

export class KickRelay {
  readonly #deps: KickRelayDeps
  readonly #pending = new Map<string, Pending>()

  constructor (deps: KickRelayDeps) {
    this.#deps = deps
  }

  async start (): Promise<void> {
    const sub = this.#deps.subscriber
    if (sub === null) return
    sub.on('message', (channel: string, message: string) => {
      try {
        if (channel === KICK_CHANNEL) this.#onRequest(JSON.parse(message) as Request)
        else if (channel === KICK_REPLY_CHANNEL) this.#onReply(JSON.parse(message) as Reply)
      } catch (err) {
        this.#deps.onError(err, 'bad kick relay message')
      }
    })
    await sub.subscribe(KICK_CHANNEL, KICK_REPLY_CHANNEL)
  }

  /** Kick the client on every node; true if some node disconnected it. */
  async kick (clientId: string): Promise<boolean> {
    const { redis, subscriber } = this.#deps
    if (redis === null || subscriber === null) {
      this.#deps.requested(clientId)
      return await this.#deps.kickLocal(clientId)
    }
    const id = randomUUID()
    let timer: { cancel(): void } | undefined
    const done = new Promise<boolean>((resolve) => {
      const pending: Pending = { expected: Infinity, replies: 0, kicked: false, resolve }
      this.#pending.set(id, pending)
      timer = this.#deps.scheduler.after(this.#deps.timeoutMs, () => resolve(pending.kicked))
    })
    try {
      const listeners = await redis.publish(KICK_CHANNEL, JSON.stringify({ id, clientId } satisfies Request))
      const pending = this.#pending.get(id)
      if (pending !== undefined) {
        pending.expected = listeners
        if (pending.replies >= listeners) pending.resolve(pending.kicked)
      }
      return await done
    } finally {
      timer?.cancel()
      this.#pending.delete(id)
    }
  }

  #onRequest (request: Request): void {
    if (typeof request.clientId !== 'string' || typeof request.id !== 'string') return
    this.#deps.requested(request.clientId)
    this.#deps.kickLocal(request.clientId).catch((err: unknown) => {
      this.#deps.onError(err, 'kick failed')
      return false
    }).then((kicked) => {
      return this.#deps.redis?.publish(KICK_REPLY_CHANNEL, JSON.stringify({ id: request.id, kicked } satisfies Reply))
    }).catch((err: unknown) => this.#deps.onError(err, 'kick reply failed'))
  }

  #onReply (reply: Reply): void {
    const pending = this.#pending.get(reply.id)
    if (pending === undefined) return
    pending.replies++
    if (reply.kicked === true) pending.kicked = true
    // A kick is final: no need to wait for the other nodes' "not here".
    if (pending.kicked || pending.replies >= pending.expected) pending.resolve(pending.kicked)
  }
}
