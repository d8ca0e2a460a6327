/**
 * A will held for `wills.delay`, already stamped, and the stores that keep it:
 * in memory (pending.ts) or in Redis (store-redis.ts, survives a restart).
 */
import type { Held } from './pending.js'

export interface HeldWill extends Held {
  topic: string
  /** Stamped payload. */
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  /** Why the connection ended and when (ms). */
  reason: string
  at: number
}

export interface PendingStore {
  /** Keep a will until `due`; a newer connection's pending will is never replaced by an older one. */
  hold(will: HeldWill): Promise<void>
  /** A connection with `epoch` was accepted: drop an older pending will of this client. */
  cancel(clientId: string, epoch: number | undefined): Promise<HeldWill | undefined>
  /** Claim (remove and return) the wills due at `now`; in Redis exactly one node gets each. */
  takeDue(now: number): Promise<HeldWill[]>
  /** Earliest due time if known locally (memory), undefined when the store must be polled (Redis). */
  nextDue(): number | undefined
  /** Memory mode shutdown: everything, to publish now rather than lose it. */
  drain(): HeldWill[]
}

/** Wire form in Redis (JSON, payload base64). */
export function encodeHeld (will: HeldWill): string {
  return JSON.stringify({ ...will, payload: will.payload.toString('base64') })
}

export function decodeHeld (text: string): HeldWill {
  const raw = JSON.parse(text) as Omit<HeldWill, 'payload'> & { payload: string }
  return { ...raw, payload: Buffer.from(raw.payload, 'base64') }
}
