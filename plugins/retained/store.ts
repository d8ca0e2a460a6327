/**
 * Where the store times of retained messages live: in memory (memory mode) or
 * in two Redis sorted sets shared by every node (Redis mode), so that store
 * times survive restarts and a due message is taken by exactly one node.
 */
import type { Due } from './due-index.js'

export type { Due }

export interface RetainedStore {
  /**
   * Hot path, fire and forget: a non-empty retained message was stored on
   * `topic` at `storedAt`; `dueAt` is when its rule expires it (null: never).
   */
  record(topic: string, storedAt: number, dueAt: number | null): void
  /** Hot path, fire and forget: an empty retained publish cleared `topic`. */
  clear(topic: string): void
  /**
   * Take up to `limit` topics due at `now`, earliest first. Taking is the claim:
   * each due topic is handed to exactly one caller, cluster-wide.
   */
  takeDue(now: number, limit: number): Promise<Due[]>
  /**
   * Reconcile with the retained messages the persistence holds (start-up):
   * topics not known yet are recorded as stored at `now`; every known topic's
   * due time is recomputed with `maxAgeOf` (the rules may have changed);
   * records whose retained message is gone are dropped. Returns how many
   * topics were adopted.
   */
  reconcile(now: number, maxAgeOf: (topic: string) => number | null): Promise<number>
  /** How many retained messages are known. */
  size(): number | Promise<number>
}

/** Let the event loop breathe between batches (a sweep never stalls it for long). */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
