/**
 * The one delay store (`wills.delay`): a client's delayed offline status and
 * its will, together, in this process (delay-store-memory.ts) or in Redis
 * (delay-store-redis.ts, survives a restart; any node releases what falls due,
 * exactly one does).
 */
import type { DelayedEnd } from './delayed-end.js'

export interface DelayStore {
  /** Put a part (status and/or will) of a connection's delayed end; a newer connection's entry is never replaced. */
  put(part: DelayedEnd): Promise<void>
  /** A connection with `epoch` was accepted (none: the client was forgotten): drop an older delayed end. */
  cancel(clientId: string, epoch: number | undefined): Promise<DelayedEnd | undefined>
  /** Claim (remove and return) the entries due at `now`; in Redis exactly one node gets each. */
  takeDue(now: number): Promise<DelayedEnd[]>
  /** Earliest due time if known locally (memory), undefined when the store must be polled (Redis). */
  nextDue(): number | undefined
  /** Memory mode shutdown: everything, to publish now rather than lose it (Redis keeps them). */
  drain(): DelayedEnd[]
}
