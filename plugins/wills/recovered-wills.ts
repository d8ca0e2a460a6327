/**
 * Wills of a lost node (and of this node's previous run), read back from
 * persistence (recovery.ts, or Aedes' own will sweep) and passing
 * authorizePublish with no client of theirs. Liveness names the end
 * (`lostEnd`: node_lost, at the node's last heartbeat); here each will is
 * claimed in Redis so exactly one node publishes it, decided, stamped, and
 * taken out of persistence so no sweep sees it again.
 */
import type { Aedes } from 'aedes'
import type { Redis } from 'ioredis'
import { persistenceOf, type WillPacket } from '../../broker/aedes/index.js'
import type { Scheduler } from '../../broker/scheduler.js'
import type { LivenessService } from '../liveness/service.js'
import { decideWill } from './decide.js'
import type { WillMetrics } from './metrics.js'
import type { Death } from './stamp.js'
import { withheld, type WillOutcome } from './will-outcome.js'

/** A claim outlives any sweep that could still see the will (Aedes sweeps every 16 s). */
const CLAIM_TTL_MS = 10 * 60_000
const CLAIM_PREFIX = 'vigil:wills:claim:'

export type StoredWill = WillPacket & { clientId: string, brokerId: string }

export interface RecoveredWillsDeps {
  broker: Aedes
  nodeId: string
  redis: Redis | null
  liveness: LivenessService
  outcome: WillOutcome
  metrics: WillMetrics
  scheduler: Scheduler
  delay: number
  canDelay(): boolean
}

export class RecoveredWills {
  readonly #deps: RecoveredWillsDeps

  constructor (deps: RecoveredWillsDeps) {
    this.#deps = deps
  }

  async authorize (packet: StoredWill): Promise<void> {
    const { broker, liveness, outcome, metrics, scheduler } = this.#deps
    const { clientId, brokerId } = packet
    const epoch = typeof packet.vigilEpoch === 'number' ? packet.vigilEpoch : undefined
    const refuse = async (err: unknown): Promise<never> => {
      // Aedes' sweep would emit 'error' and retry a refused will forever if it stayed in persistence.
      await persistenceOf(broker).delWill({ id: clientId, brokerId })
      throw err
    }
    if (!await this.#claim(brokerId, clientId, epoch)) {
      metrics.suppressed('duplicate')
      return await refuse(withheld('will already claimed by another sweep'))
    }
    const end = liveness.lostEnd(clientId, brokerId, epoch)
    const death: Death = { clientId, reason: end.reason, at: end.at, lastSeen: end.lastHeartbeat }
    const decision = decideWill({
      willEpoch: epoch,
      currentEpoch: liveness.currentEpoch(clientId),
      reason: end.reason,
      takenOver: false,
      connectedElsewhere: end.displacedBy !== null,
      at: end.at,
      now: scheduler.now(),
      // The Will Delay Interval the client set, as tagged at its CONNECT; else wills.delay.
      delay: typeof packet.vigilWillDelay === 'number' ? packet.vigilWillDelay : this.#deps.delay,
      canDelay: this.#deps.canDelay()
    })
    try {
      await outcome.apply(decision, packet, death, epoch)
    } catch (err) {
      return await refuse(err)
    }
    // Going out. Published with the dead node's brokerId, Aedes would give it this node's
    // message counter under that id, and each subscriber's duplicate filter (client.js
    // dedupe), having seen the dead node's higher counters, would silently drop it. So it
    // leaves persistence now and goes out as this node's message; Aedes' delWill after the
    // publish then finds nothing, and no sweep sees it again.
    await persistenceOf(broker).delWill({ id: clientId, brokerId })
    const out = packet as { brokerId?: string, brokerCounter?: number }
    delete out.brokerId
    delete out.brokerCounter
  }

  /** SET NX: the first node to claim a lost node's will publishes it; memory mode has no other node. */
  async #claim (brokerId: string, clientId: string, epoch: number | undefined): Promise<boolean> {
    const { redis, nodeId } = this.#deps
    if (redis === null) return true
    const key = `${CLAIM_PREFIX}${brokerId}:${clientId}:${epoch ?? 'x'}`
    return await redis.set(key, nodeId, 'PX', CLAIM_TTL_MS, 'NX') === 'OK'
  }
}
