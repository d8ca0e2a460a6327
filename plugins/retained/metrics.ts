/**
 * vigil_retained_messages (gauge, read from the store index at scrape time)
 * and vigil_retained_expired_total (docs/metrics.md).
 */
import { Counter, Gauge, type Registry } from 'prom-client'

export interface RetainedMetrics {
  expired: Counter
}

export function registerRetainedMetrics (registry: Registry, size: () => number | Promise<number>): RetainedMetrics {
  let last = 0
  new Gauge({
    name: 'vigil_retained_messages',
    help: 'Retained messages currently stored (cluster-wide in Redis mode)',
    registers: [registry],
    // Cluster-wide in Redis mode, the same on every worker: not summed.
    aggregator: 'max',
    async collect () {
      // Redis unreachable: keep the last known value rather than fail the scrape.
      try { last = await size() } catch { /* keep last */ }
      this.set(last)
    }
  })
  const expired = new Counter({
    name: 'vigil_retained_expired_total',
    help: 'Retained messages this node cleared because they expired (expire rules, liveness.forgetAfter)',
    registers: [registry]
  })
  return { expired }
}
