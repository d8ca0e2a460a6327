/**
 * The liveness metrics (CONTRACT.md section 7), on the instance's registry.
 * Every labelled series exists from start-up at 0; no per-client labels.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { LIVENESS_STATES, type LivenessState } from './service.js'

export const TRANSITION_FROM = ['none', ...LIVENESS_STATES] as const
export type TransitionFrom = typeof TRANSITION_FROM[number]

export interface LivenessMetrics {
  transition(from: TransitionFrom, to: LivenessState): void
  heartbeatInterval(seconds: number): void
}

export function registerLivenessMetrics (registry: Registry, counts: () => Record<LivenessState, number>): LivenessMetrics {
  const devices = new Gauge({
    name: 'vigil_devices',
    help: 'Clients known to the fleet view, by liveness state',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      const now = counts()
      for (const state of LIVENESS_STATES) this.set({ state }, now[state])
    }
  })
  for (const state of LIVENESS_STATES) devices.set({ state }, 0)

  const transitions = new Counter({
    name: 'vigil_liveness_transitions_total',
    help: 'Liveness status transitions published by this node, by previous and new state',
    labelNames: ['from', 'to'],
    registers: [registry]
  })
  for (const from of TRANSITION_FROM) for (const to of LIVENESS_STATES) transitions.inc({ from, to }, 0)

  const intervals = new Histogram({
    name: 'vigil_heartbeat_interval_seconds',
    help: 'Observed time between two application heartbeats of a client',
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry]
  })
  return {
    transition: (from, to) => transitions.inc({ from, to }),
    heartbeatInterval: (seconds) => intervals.observe(seconds)
  }
}
