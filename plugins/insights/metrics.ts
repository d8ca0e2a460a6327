/**
 * The insight metrics (issue 18), on the instance's registry, no per-device
 * labels: firmware versions are counted in GET /api/fleet, not as labels.
 */
import { Counter, Gauge, type Metric, type Registry } from 'prom-client'
import { IntervalHistogram } from '../liveness/metrics.js'

/** |skew| buckets (s): NTP-synced devices sit in the first ones; > 60 s is an alert. */
export const SKEW_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 3600, 86_400] as const

export interface InsightMetrics {
  restart(): void
  /** One heartbeat's |device ts - receive time|, seconds. */
  skew(seconds: number): void
}

export function registerInsightMetrics (registry: Registry, flapping: () => number): InsightMetrics {
  const restarts = new Counter({
    name: 'vigil_device_restarts_total',
    help: 'Device reboots seen by this node (birth boot counter changed, or heartbeat uptime went backwards)',
    registers: [registry]
  })
  restarts.inc(0)
  // Allocation-free on every heartbeat, like vigil_heartbeat_interval_seconds.
  const skew = new IntervalHistogram('vigil_clock_skew_seconds',
    'Absolute difference between a heartbeat\'s device ts and the broker\'s receive time', SKEW_BUCKETS)
  // Not an Aedes cast: prom-client types registerMetric as taking one of its own four classes,
  // while the registry only calls get() on it (duck-typed), which IntervalHistogram provides.
  registry.registerMetric(skew as unknown as Metric)
  new Gauge({ // eslint-disable-line no-new
    name: 'vigil_devices_flapping',
    help: 'Devices with more than 5 connects within 5 minutes (the fleet view: every node reports the same)',
    registers: [registry],
    // Fleet-wide on every node: summed over workers it would count each device N times.
    aggregator: 'max',
    collect () { this.set(flapping()) }
  })
  return {
    restart: () => restarts.inc(),
    skew: (seconds) => skew.observe(seconds)
  }
}
