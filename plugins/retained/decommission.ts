/**
 * Decommission (docs/topics-and-payloads.md#retained-lifecycle; used by DELETE /api/devices/{clientId}):
 * disconnect the client wherever it is (reason `kicked`), clear its status and
 * every retained message under `devices/{clientId}/#`, and forget it in the
 * fleet view. Memory and Redis mode.
 */
import type { DecommissionService } from '../api/decommission-service.js'
import type { LivenessService } from '../liveness/service.js'
import type { KickRelay } from './kick-relay.js'
import type { StatusTopic } from './status-topic.js'

export type { DecommissionService }

export interface DecommissionDeps {
  liveness: LivenessService | undefined
  statusTopic: StatusTopic
  relay: KickRelay
  /** How long the client's retained topics stay held empty after the kick. */
  holdMs: number
  /** Whether the client still has a connection on this node. */
  connectedHere(clientId: string): boolean
  /** Topics of the retained messages matching these filters, from the persistence. */
  retainedTopics(filters: string[]): Promise<string[]>
  /** Clear one retained message (empty retained publish through the broker). */
  clearRetained(topic: string): Promise<void>
}

/** How long to wait for the kicked connection's end (offline status, will) to land. */
const SETTLE_MS = 3000

export function createDecommission (deps: DecommissionDeps): DecommissionService {
  const { liveness, statusTopic, relay } = deps

  const connected = (clientId: string): boolean => {
    if (deps.connectedHere(clientId)) return true
    const state = liveness?.get(clientId)?.state
    return state === 'online' || state === 'silent'
  }

  const settle = async (clientId: string): Promise<void> => {
    const deadline = Date.now() + SETTLE_MS
    while (connected(clientId) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  }

  return {
    async decommission (clientId) {
      const status = statusTopic.topicOf(clientId)
      const filters = [`devices/${clientId}/#`]
      if (status !== undefined) filters.push(status)
      // What the client had retained when it was decommissioned (the kick's own
      // offline status and will come after, and are held off the store).
      const before = await deps.retainedTopics(filters)
      // The hold goes up on every node before the kick, so the will and the
      // offline status the kick causes are not stored again.
      const kicked = await relay.kick(clientId, deps.holdMs)
      if (kicked) await settle(clientId)
      const topics = new Set([...before, ...await deps.retainedTopics(filters)])
      await Promise.all([...topics].filter((topic) => topic !== status).map((topic) => deps.clearRetained(topic)))
      // The liveness service clears the status (empty retained) and drops the client, cluster-wide.
      if (liveness !== undefined) await liveness.forget(clientId)
      else if (status !== undefined && topics.has(status)) await deps.clearRetained(status)
      return { kicked, cleared: topics.size }
    }
  }
}
