/**
 * The one owner of a connection's end. When Aedes starts closing a client (its
 * will passes authorizePublish, clientDisconnect fires, or the sweep finds it
 * closed) or the broker shuts down, this decides the end once: the reason
 * (end-reason.ts), the time of death, the epoch, who displaced it. Then it
 * applies liveness' part (the offline status now, delayed by `wills.delay`, or
 * none after a takeover) and announces one `ConnectionEnded` fact, which the
 * wills plugin consumes. Every later reader gets the same answer.
 */
import type { Client } from 'aedes'
import { pendingWill, sentDisconnect, type WillPacket } from '../../broker/aedes/index.js'
import type { Scheduler } from '../../broker/scheduler.js'
import { connectionOf, type Connection } from './connection.js'
import type { LivenessCore } from './core.js'
import type { DelayedEnds } from './delayed-ends.js'
import { endReason } from './end-reason.js'
import type { FleetStatus } from './fleet-status.js'
import type { ConnectionEnded, EndedListener, OfflineReason } from './service.js'

export interface ConnectionEndsDeps {
  nodeId: string
  scheduler: Scheduler
  core: LivenessCore
  fleet: FleetStatus
  delayed: DelayedEnds
  /** wills.delay (ms). */
  delay: number
  shuttingDown(): boolean
  reportError(err: unknown, what: string): void
}

export class ConnectionEnds {
  readonly #deps: ConnectionEndsDeps
  readonly #listeners = new Set<EndedListener>()

  constructor (deps: ConnectionEndsDeps) {
    this.#deps = deps
  }

  onEnded (listener: EndedListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /**
   * The connection of `client` ended (Aedes is closing it, or the broker is
   * shutting down): decided and announced the first time, the same answer
   * after. `will`: the will Aedes has in hand, if it is passing authorizePublish.
   */
  end (client: Client, will?: WillPacket | null): ConnectionEnded {
    const conn = connectionOf(client)
    if (conn?.ended != null) return conn.ended
    const ended = this.decide(client, will)
    if (conn !== undefined) {
      conn.ended = ended
      this.#apply(conn, ended)
    }
    for (const listener of this.#listeners) {
      try { listener(ended) } catch (err) { this.#deps.reportError(err, 'ended listener failed') }
    }
    return ended
  }

  /** What the end of `client`'s connection is (or would be, if it ended now), without announcing it. */
  decide (client: Client, will?: WillPacket | null): ConnectionEnded {
    const { scheduler, nodeId, delay } = this.#deps
    const conn = connectionOf(client)
    if (conn?.ended != null) return conn.ended
    const now = scheduler.now()
    const marked = conn?.markedReason() ?? null
    const disconnected = sentDisconnect(client)
    const reason = endReason({
      marked,
      disconnected,
      keepaliveExpired: conn?.keepaliveExpired ?? false,
      shuttingDown: this.#deps.shuttingDown(),
      error: conn?.error ?? null
    })
    // keepalive_timeout: the death is the last packet; a broker decision: when it was made.
    const at = conn === undefined ? now : reason === 'keepalive_timeout' ? conn.lastPacket : marked !== null ? conn.markedAt : now
    const by = reason === 'takeover' ? conn?.displacedBy ?? null : null
    return {
      clientId: client.id,
      epoch: conn?.epoch ?? 0,
      reason,
      at,
      lastHeartbeat: conn?.lastHeartbeat ?? null,
      lastPacket: conn?.lastPacket ?? null,
      node: nodeId,
      local: true,
      client,
      displacedBy: reason === 'takeover' ? { local: by !== null, client: by?.client ?? null } : null,
      // [MQTT-3.14.4-3] a DISCONNECT voids the will.
      will: disconnected ? null : will ?? pendingWill(client),
      delayedUntil: conn !== undefined && delays(reason, conn) && delay > 0 && at + delay > now ? at + delay : null
    }
  }

  /** Liveness' part of an end: the offline status, now or delayed; none after a takeover. */
  #apply (conn: Connection, ended: ConnectionEnded): void {
    if (!conn.registered || !conn.tracked) return
    if (this.#deps.core.end(conn, ended.reason, ended.at) === null) return
    // The new epoch's `online` replaces it: no offline for a taken-over connection.
    if (ended.reason === 'takeover') return
    const status = this.#deps.fleet.statusOf(conn)
    if (ended.delayedUntil !== null) this.#deps.delayed.delayStatus(conn.clientId, conn.epoch, ended.delayedUntil, { status, topic: conn.topic })
    else this.#deps.fleet.emit(status, conn.topic)
  }
}

/**
 * Whether wills.delay holds this end back: not a takeover (nothing goes out),
 * not a shutdown (announced at once), not an observer (no will to hold back).
 */
const delays = (reason: OfflineReason, conn: Connection): boolean =>
  reason !== 'takeover' && reason !== 'server_shutdown' && !conn.observer && conn.registered && conn.tracked
