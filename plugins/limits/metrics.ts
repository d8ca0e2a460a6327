/**
 * What the limits refuse or drop, every series present at 0 from start-up:
 * nothing over a limit disappears without a count.
 */
import { Counter, type Registry } from 'prom-client'

export const DROP_CAUSES = ['queue_full', 'retained_limit'] as const
export type DropCause = typeof DROP_CAUSES[number]
export const LIMITS = ['publish_rate', 'subscriptions'] as const
export type LimitName = typeof LIMITS[number]

export interface LimitsMetrics {
  dropped(cause: DropCause, count?: number): void
  refused(limit: LimitName): void
}

export function registerLimitsMetrics (registry: Registry): LimitsMetrics {
  const dropped = new Counter({
    name: 'vigil_messages_dropped_total',
    help: 'Messages a limit dropped: queued for an offline session over limits.maxQueued, retained not stored over limits.maxRetained',
    labelNames: ['cause'],
    registers: [registry]
  })
  for (const cause of DROP_CAUSES) dropped.inc({ cause }, 0)
  const refused = new Counter({
    name: 'vigil_limit_refusals_total',
    help: 'Clients disconnected over limits.publishRate and SUBSCRIBE filters refused over limits.maxSubscriptions',
    labelNames: ['limit'],
    registers: [registry]
  })
  for (const limit of LIMITS) refused.inc({ limit }, 0)
  return {
    dropped: (cause, count = 1) => dropped.inc({ cause }, count),
    refused: (limit) => refused.inc({ limit })
  }
}
