/**
 * Statuses of devices held by another cluster node, published through the
 * broker on their status topic exactly as a peer node's would arrive: the
 * liveness plugin takes them into its fleet view and the API and /api/events
 * show them. Lets page tests build a fleet of any size and shape quickly.
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
    broker.publish({ cmd: 'publish', topic: `$liveness/${s.clientId}`, payload: Buffer.from(JSON.stringify(status)), qos: 0, retain: false, dup: false } as never,
      (err?: Error) => err ? reject(err) : resolve())
  })
}
