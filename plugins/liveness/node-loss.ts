/**
 * Connections that died with their node (docs/topics-and-payloads.md): when the
 * cluster loses a node, one surviving node claims the loss (Redis SET NX) and
 * publishes its clients offline, node_lost, since the node's last heartbeat;
 * after a restart, statuses this node published before are stale unless the
 * connection is back. And the end of one such connection, for its will read
 * back from persistence (`lostEnd`).
 */
import type { Aedes } from 'aedes'
import type { Redis } from 'ioredis'
import type { ClusterService } from '../../broker/cluster.js'
import { liveClient } from '../../broker/aedes/index.js'
import type { Scheduler } from '../../broker/scheduler.js'
import { connectionOf } from './connection.js'
import type { FleetStatus } from './fleet-status.js'
import type { ClientStatus, ConnectionEnded, OfflineReason } from './service.js'

export interface NodeLossDeps {
  broker: Aedes
  nodeId: string
  redis: Redis | null
  scheduler: Scheduler
  cluster: ClusterService | undefined
  fleet: FleetStatus
}

export class NodeLoss {
  readonly #deps: NodeLossDeps

  constructor (deps: NodeLossDeps) {
    this.#deps = deps
  }

  /** The cluster lost `node`: its clients' connections died with it. */
  async nodeLost (node: string, lastSeen: number, heartbeatMs: number): Promise<void> {
    const { fleet, redis, nodeId } = this.#deps
    if (fleet.view.connectedOn(node).length === 0) return
    if (redis !== null) {
      // The claim outlives the spread between nodes noticing the same loss (they check every
      // 250 ms, broker/cluster.ts) but not the 3 heartbeats it takes to lose the node again after it is back.
      const claimed = await redis.set(`vigil:liveness:node-lost:${node}`, nodeId, 'PX', 3 * heartbeatMs, 'NX')
      if (claimed !== 'OK') return
    }
    this.#declareLost(node, lastSeen, () => false)
  }

  /** After a restart, statuses this node published before are stale unless the connection is back. */
  recoverOwnStatuses (): void {
    const { broker } = this.#deps
    this.#declareLost(this.#deps.nodeId, null, (status) => {
      const client = liveClient(broker, status.clientId)
      return client !== undefined && connectionOf(client)?.epoch === status.epoch
    })
  }

  /**
   * The end of a connection of the lost node `node`: node_lost; the time of
   * death is the node's last heartbeat (this node's own previous run: the
   * client's last packet). Displaced when the client is connected again here,
   * or on a node other than the lost one.
   */
  lostEnd (clientId: string, node: string, epoch: number | undefined): ConnectionEnded {
    const { broker, nodeId, scheduler, cluster, fleet } = this.#deps
    const status = fleet.view.get(clientId)
    const now = scheduler.now()
    const at = node === nodeId ? status?.lastPacket ?? now : cluster?.lastSeen(node) ?? now
    const here = liveClient(broker, clientId)
    const elsewhere = status !== undefined && status.state !== 'offline' && status.node !== node
    return {
      clientId,
      epoch: epoch ?? 0,
      reason: 'node_lost',
      at,
      lastHeartbeat: status?.lastHeartbeat ?? null,
      lastPacket: status?.lastPacket ?? null,
      node,
      local: false,
      client: null,
      displacedBy: here !== undefined ? { local: true, client: here } : elsewhere ? { local: false, client: null } : null,
      will: null,
      delayedUntil: null
    }
  }

  #declareLost (node: string, lastSeen: number | null, alive: (status: ClientStatus) => boolean): void {
    const { fleet } = this.#deps
    for (const { status, topic } of fleet.view.connectedOn(node)) {
      if (alive(status)) continue
      const reason: OfflineReason = 'node_lost'
      fleet.emit({ ...status, state: 'offline', reason, since: lastSeen ?? status.lastPacket ?? status.since }, topic)
    }
  }
}
