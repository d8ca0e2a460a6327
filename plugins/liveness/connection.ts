/**
 * What the adapter keeps per Aedes client: the core's `Conn` plus the facts
 * needed to name the end of the connection while Aedes is still closing it
 * (its will passes authorizePublish before clientDisconnect fires).
 */
import type { Client } from 'aedes'
import { clientSlot, isClosed, sentDisconnect } from '../../broker/aedes/index.js'
import { Conn } from './core.js'
import type { TopicPredicate } from './rules.js'
import { endReason } from './end-reason.js'
import type { ConnectionEnd, OfflineReason } from './service.js'

/** The liveness state of each Aedes client, in a slot on the client object. */
export const CONNECTION = clientSlot<Connection>('vigil.liveness.connection')

/** The connection liveness tracks for `client`, if any. */
export const connectionOf = (client: Client): Connection | undefined => CONNECTION.get(client)

export class Connection extends Conn {
  /** A reason the broker decided (takeover, kicked, silent_timeout, server_shutdown). */
  marked: OfflineReason | null = null
  markedAt = 0
  /** The connection whose CONNECT took this one over (same node); see takenOver(). */
  displacedBy: Connection | null = null
  keepaliveExpired = false
  error: unknown = null
  /** Set once the client is closed and the end is decided: every reader sees the same answer. */
  end: ConnectionEnd | null = null
  /** Aedes registered it (the `client` event): its online status is out. */
  registered = false

  constructor (
    readonly client: Client,
    clientId: string,
    epoch: number,
    connectedAt: number,
    threshold: number,
    ruleThreshold: boolean,
    readonly tracked: boolean,
    readonly topic: string,
    readonly isHeartbeat: TopicPredicate
  ) {
    super(clientId, epoch, connectedAt, threshold, ruleThreshold)
  }

  mark (reason: OfflineReason, at: number, by: Connection | null = null): void {
    if (this.end !== null || this.marked !== null) return
    this.marked = reason
    this.markedAt = at
    this.displacedBy = by
  }

  /**
   * The takeover mark holds unless the connection that made it failed before
   * Aedes registered it (a later plugin refused its CONNECT): then this one
   * was not taken over after all.
   */
  markedReason (): OfflineReason | null {
    const by = this.displacedBy
    if (this.marked === 'takeover' && by !== null && !by.registered && isClosed(by.client)) return null
    return this.marked
  }
}

/**
 * How and when a client's connection ended, from what Aedes shows of it and
 * what liveness marked. Once Aedes is closing the client the answer is kept,
 * so every reader (its will, its status) gets the same one.
 */
export function connectionEnd (client: Client, now: number, shuttingDown: boolean): ConnectionEnd {
  const conn = CONNECTION.get(client)
  if (conn?.end != null) return conn.end
  const marked = conn?.markedReason() ?? null
  const reason = endReason({
    marked,
    disconnected: sentDisconnect(client),
    keepaliveExpired: conn?.keepaliveExpired ?? false,
    shuttingDown,
    error: conn?.error ?? null
  })
  // keepalive_timeout: the death is the last packet; a broker decision: when it was made.
  const at = conn === undefined ? now : reason === 'keepalive_timeout' ? conn.lastPacket : marked !== null ? conn.markedAt : now
  const end: ConnectionEnd = {
    clientId: client.id,
    epoch: conn?.epoch ?? 0,
    reason,
    at,
    lastHeartbeat: conn?.lastHeartbeat ?? null,
    lastPacket: conn?.lastPacket ?? null
  }
  if (conn !== undefined && isClosed(client)) conn.end = end
  return end
}
