/**
 * Decommission (docs/topics-and-payloads.md#retained-lifecycle; used by DELETE /api/devices/{clientId}),
 * provided by the liveness plugin, which owns a client's membership of the fleet:
 * disconnect the client wherever it is (reason `kicked`), clear its status and
 * every retained message under `devices/{clientId}/#`, and forget it in the
 * fleet view. Memory and Redis mode.
 */
import type { Scheduler } from '../../broker/scheduler.js'
import type { DecommissionService } from '../api/decommission-service.js'
import type { KickRelay } from './kick-relay.js'
import type { LivenessService } from './service.js'

export type { DecommissionService }

export interface DecommissionDeps {
  liveness: Pick<LivenessService, 'get' | 'forget'>
  /** The status topic of a clientId, where the template needs nothing else. */
  statusTopicOf(clientId: string): string | undefined
  relay: KickRelay
  scheduler: Scheduler
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
  const { liveness, relay, scheduler } = deps

  const connected = (clientId: string): boolean => {
    if (deps.connectedHere(clientId)) return true
    const state = liveness.get(clientId)?.state
    return state === 'online' || state === 'silent'
  }

  const settle = async (clientId: string): Promise<void> => {
    const deadline = scheduler.now() + SETTLE_MS
    while (connected(clientId) && scheduler.now() < deadline) await new Promise<void>((resolve) => { scheduler.after(20, resolve) })
  }

  return {
    async decommission (clientId) {
      const status = deps.statusTopicOf(clientId)
      const filters = [`devices/${clientId}/#`]
      if (status !== undefined) filters.push(status)
      // What the client had retained when it was decommissioned (the kick's own
      // offline status and will come after, and are held off the store).
      const before = await deps.retainedTopics(filters)
      // Every node hears of the kick before it happens (the retained plugin keeps clear the
      // client's topics), so the will and the offline status it causes are not stored again.
      const kicked = await relay.kick(clientId)
      if (kicked) await settle(clientId)
      const topics = new Set([...before, ...await deps.retainedTopics(filters)])
      await Promise.all([...topics].filter((topic) => topic !== status).map((topic) => deps.clearRetained(topic)))
      // The liveness service clears the status (empty retained) and drops the client, cluster-wide.
      await liveness.forget(clientId)
      return { kicked, cleared: topics.size }
    }
  }
}
