/**
 * Where transition histories live: in this process (memory mode) or in one
 * capped Redis list per device (Redis mode), written in batches. Both keep the
 * last 7 days or 1,000 transitions per device, whichever is fewer.
 */
import type { HistoryEntry } from './availability.js'

export interface HistoryStore {
  /** Queue or store one transition of `clientId`. Never throws, never waits. */
  record(clientId: string, entry: HistoryEntry, now: number): void
  /** The transitions of `clientId` at or after `since`, oldest first. */
  read(clientId: string, since: number, now: number): Promise<HistoryEntry[]>
  /** Drop the history of a forgotten device. */
  forget(clientId: string): Promise<void>
  /** Write what is queued (Redis mode; memory resolves at once). */
  flush(): Promise<void>
  /** Transitions queued and not written yet. */
  readonly pending: number
}
