/**
 * The liveness metrics (docs/metrics.md), on the instance's registry.
 * Every labelled series exists from start-up at 0; no per-client labels.
 */
import { Counter, Gauge, type Metric, type Registry } from 'prom-client'
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
    // Every node's fleet view holds the whole fleet (Redis mode): summed over workers it would count each device N times.
    aggregator: 'max',
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

  const intervals = new IntervalHistogram('vigil_heartbeat_interval_seconds',
    'Observed time between two application heartbeats of a client', HEARTBEAT_BUCKETS)
  registry.registerMetric(intervals as unknown as Metric)
  return {
    transition: (from, to) => transitions.inc({ from, to }),
    heartbeatInterval: (seconds) => intervals.observe(seconds)
  }
}

export const HEARTBEAT_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900, 3600] as const

/**
 * A label-less histogram in prom-client's export format whose observe()
 * allocates nothing: it runs on every heartbeat. prom-client's own Histogram
 * allocates a label object and a closure per observation, which showed up as
 * GC time in a CPU profile (`node --cpu-prof`) of bench/liveness-overhead.ts.
 */
export class IntervalHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #bounds: readonly number[]
  readonly #counts: Float64Array
  #sum = 0
  #count = 0

  constructor (readonly name: string, readonly help: string, bounds: readonly number[]) {
    this.#bounds = bounds
    this.#counts = new Float64Array(bounds.length)
  }

  observe (value: number): void {
    if (!Number.isFinite(value)) return
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) { this.#counts[i]!++; break }
    }
    this.#sum += value
    this.#count++
  }

  reset (): void {
    this.#counts.fill(0)
    this.#sum = 0
    this.#count = 0
  }

  async get (): Promise<{ name: string, help: string, type: string, aggregator: string,
    values: Array<{ value: number, labels: Record<string, string | number>, metricName: string }> }> {
    const values: Array<{ value: number, labels: Record<string, string | number>, metricName: string }> = []
    let cumulative = 0
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!
      values.push({ value: cumulative, labels: { le: this.#bounds[i]! }, metricName: `${this.name}_bucket` })
    }
    values.push({ value: this.#count, labels: { le: '+Inf' }, metricName: `${this.name}_bucket` })
    values.push({ value: this.#sum, labels: {}, metricName: `${this.name}_sum` })
    values.push({ value: this.#count, labels: {}, metricName: `${this.name}_count` })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}
