/**
 * Transition histories in this process (memory mode): an array per device,
 * trimmed on write to the last 7 days and 1,000 entries. A device forgotten
 * (its status cleared, e.g. after liveness.forgetAfter) loses its history.
 */
import { HISTORY_MAX_AGE_MS, HISTORY_MAX_TRANSITIONS, window, type HistoryEntry } from './availability.js'
import type { HistoryStore } from './history.js'

/** Trim when this many entries over the cap have piled up, so a write costs O(1) amortised. */
const TRIM_SLACK = 64

export class MemoryHistory implements HistoryStore {
  readonly #byClient = new Map<string, HistoryEntry[]>()
  readonly pending = 0

  record (clientId: string, entry: HistoryEntry, now: number): void {
    let list = this.#byClient.get(clientId)
    if (list === undefined) {
      list = []
      this.#byClient.set(clientId, list)
    }
    list.push(entry)
    let drop = list.length > HISTORY_MAX_TRANSITIONS + TRIM_SLACK ? list.length - HISTORY_MAX_TRANSITIONS : 0
    const oldest = now - HISTORY_MAX_AGE_MS
    while (drop < list.length && list[drop]!.at < oldest) drop++
    if (drop > 0) list.splice(0, drop)
  }

  async read (clientId: string, since: number, now: number): Promise<HistoryEntry[]> {
    return window(this.#byClient.get(clientId) ?? [], since, now)
  }

  async forget (clientId: string): Promise<void> {
    this.#byClient.delete(clientId)
  }

  async flush (): Promise<void> {}

  get size (): number { return this.#byClient.size }
}
