/**
 * Statuses of devices held by another cluster node, handed to the broker's
 * emitter exactly as a peer node's arrive through Redis (a packet carrying the
 * peer's broker id): the liveness plugin takes them into its fleet view and the
 * API and /api/events show them. Lets page tests build a fleet of any size and
 * shape quickly, in memory mode.
 */
import type { Aedes } from 'aedes'

export interface PeerStatus {
  clientId: string
  state: 'online' | 'silent' | 'offline'
  since: number
  connectedAt?: number
  lastHeartbeat?: number | null
  lastPacket?: number | null
  reason?: string | null
  epoch?: number
  node?: string
}

export function publishPeerStatus (broker: Aedes, s: PeerStatus): Promise<void> {
  const status = {
    connectedAt: s.since,
    lastHeartbeat: null,
    lastPacket: null,
    reason: null,
    epoch: 1,
    node: 'peer-node',
    ...s
  }
  return new Promise((resolve, reject) => {
    // Not broker.publish: that stamps this node's own id, and the liveness plugin skips its own statuses.
    const mq = (broker as unknown as { mq: { emit(packet: object, cb: (err?: Error) => void): void } }).mq
    mq.emit({ cmd: 'publish', topic: `$liveness/${s.clientId}`, payload: Buffer.from(JSON.stringify(status)), qos: 0, retain: false, dup: false,
      brokerId: status.node, brokerCounter: 0 }, (err?: Error) => err ? reject(err) : resolve())
  })
}
