/**
 * The wills plugin's counters (docs/metrics.md): every label value that
 * can occur is created at 0 at start-up.
 */
import { Counter, type Registry } from 'prom-client'
import { OFFLINE_REASONS } from '../liveness/service.js'
import { SUPPRESS_CAUSES, type SuppressCause } from './decide.js'

export interface WillMetrics {
  published(reason: string): void
  suppressed(cause: SuppressCause): void
}

export function willMetrics (registry: Registry): WillMetrics {
  const published = new Counter({
    name: 'vigil_wills_published_total',
    help: 'Wills published by the broker, by reason the connection ended',
    labelNames: ['reason'],
    registers: [registry]
  })
  const suppressed = new Counter({
    name: 'vigil_wills_suppressed_total',
    help: 'Wills never published: replaced by a newer connection, cancelled by a reconnect, or a duplicate',
    labelNames: ['cause'],
    registers: [registry]
  })
  for (const reason of OFFLINE_REASONS) published.inc({ reason }, 0)
  for (const cause of SUPPRESS_CAUSES) suppressed.inc({ cause }, 0)
  return {
    published: (reason) => published.inc({ reason }),
    suppressed: (cause) => suppressed.inc({ cause })
  }
}
