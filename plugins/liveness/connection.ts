/**
 * What liveness keeps per Aedes client: the core's `Conn` plus the facts
 * needed to name the end of the connection while Aedes is still closing it
 * (its will passes authorizePublish before clientDisconnect fires).
 */
import type { Client } from 'aedes'
import { clientSlot, isClosed } from '../../broker/aedes/index.js'
import { Conn } from './core.js'
import type { TopicPredicate } from './rules.js'
import type { ConnectionEnded, OfflineReason } from './service.js'

export class Connection extends Conn {
  /** A reason the broker decided (takeover, kicked, silent_timeout, server_shutdown, rate_limited). */
  marked: OfflineReason | null = null
  markedAt = 0
  /** The connection whose CONNECT took this one over (same node); see markedReason(). */
  displacedBy: Connection | null = null
  keepaliveExpired = false
  error: unknown = null
  /** Set once the end is decided (connection-ends.ts): every reader sees the same answer. */
  ended: ConnectionEnded | null = null
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
    if (this.ended !== null || this.marked !== null) return
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

/** The liveness state of each Aedes client, in a slot on the client object. */
const CONNECTION = clientSlot<Connection>('vigil.liveness.connection')

/** The connection liveness tracks for `client`, if any. */
export const connectionOf = (client: Client): Connection | undefined => CONNECTION.get(client)

export const trackConnection = (client: Client, conn: Connection): void => { CONNECTION.set(client, conn) }
