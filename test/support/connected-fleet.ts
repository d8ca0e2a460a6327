/**
 * A stand-in for the liveness service while testing routes in isolation: a
 * client is online from CONNACK to close, offline after. No silence detection;
 * tests mark a device silent with `markSilent`. The real plugin replaces this
 * wherever a test is about liveness itself.
 */
import { definePlugin } from '../../broker/plugin-types.js'
import type { ClientStatus, LivenessService, TransitionListener } from '../../plugins/liveness/service.js'

export interface ConnectedFleet {
  markSilent(clientId: string): void
  /** Transition listeners currently subscribed (SSE streams hold one each). */
  listeners(): number
}

/**
 * `shared`: one map for several nodes in one process, standing in for the
 * cluster-wide view the real plugin builds from the retained statuses.
 */
export function connectedFleetPlugin (handle: Partial<ConnectedFleet> = {}, shared = new Map<string, ClientStatus>()) {
  return definePlugin({
    name: 'connected-fleet',
    async setup (ctx) {
      const statuses = shared
      const listeners = new Set<TransitionListener>()
      const epochs = new Map<string, number>()
      const set = (status: ClientStatus): void => {
        const previous = statuses.get(status.clientId)
        statuses.set(status.clientId, status)
        for (const listener of listeners) listener(status, previous, true)
      }
      ctx.on('clientReady', (client) => {
        const epoch = (epochs.get(client.id) ?? 0) + 1
        epochs.set(client.id, epoch)
        const now = ctx.now()
        set({ clientId: client.id, state: 'online', since: now, connectedAt: now, lastHeartbeat: now, lastPacket: now, reason: null, epoch, node: ctx.nodeId, kind: 'device' })
      })
      ctx.on('clientDisconnect', (client) => {
        const old = statuses.get(client.id)
        if (old === undefined) return
        set({ ...old, state: 'offline', since: ctx.now(), reason: 'connection_lost' })
      })
      handle.listeners = () => listeners.size
      handle.markSilent = (clientId) => {
        const old = statuses.get(clientId)
        if (old !== undefined) set({ ...old, state: 'silent', since: ctx.now() })
      }
      const service: LivenessService = {
        get: (id) => statuses.get(id),
        list: (state) => [...statuses.values()].filter((s) => state === undefined || s.state === state),
        observers: () => 0,
        extendStatus: () => () => {},
        refresh: () => false,
        counts: () => {
          const counts = { online: 0, silent: 0, offline: 0 }
          for (const s of statuses.values()) counts[s.state]++
          return counts
        },
        onTransition: (listener) => { listeners.add(listener); return () => { listeners.delete(listener) } },
        endOf: (client) => ({ clientId: client.id, epoch: epochs.get(client.id) ?? 0, reason: 'connection_lost', at: ctx.now(), lastHeartbeat: null, lastPacket: null }),
        onEnded: () => () => {},
        lostEnd: (clientId, node, epoch) => ({ clientId, epoch: epoch ?? 0, reason: 'node_lost', at: ctx.now(), lastHeartbeat: null, lastPacket: null, node, local: false, client: null, displacedBy: null, will: null, delayedUntil: null }),
        delayWill: async () => {},
        handleDelayedWills: () => {},
        epochOf: (client) => epochs.get(client.id),
        currentEpoch: (id) => epochs.get(id) ?? 0,
        kick: async () => false,
        forget: async (id) => { statuses.delete(id) },
        forgetDue: async () => 0,
        kickEverywhere: async () => false,
        onKickRequested: () => () => {}
      }
      ctx.provide('liveness', service)
      return {}
    }
  })
}
