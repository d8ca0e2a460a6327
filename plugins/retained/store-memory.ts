/**
 * Memory mode: store times in a DueIndex. A single node owns all retained
 * messages, so taking from the index is the claim.
 */
import { DueIndex } from './due-index.js'
import { yieldToLoop, type Due, type RetainedStore } from './store.js'

/** Batches of retained topics the persistence holds right now. */
export type RetainedTopicSource = () => AsyncIterable<string[]>

export class MemoryRetainedStore implements RetainedStore {
  readonly index = new DueIndex()
  readonly #source: RetainedTopicSource

  constructor (source: RetainedTopicSource) {
    this.#source = source
  }

  record (topic: string, storedAt: number, dueAt: number | null): void {
    this.index.record(topic, storedAt, dueAt)
  }

  clear (topic: string): void {
    this.index.clear(topic)
  }

  async takeDue (now: number, limit: number): Promise<Due[]> {
    return this.index.takeDue(now, limit)
  }

  async reconcile (now: number, maxAgeOf: (topic: string) => number | null): Promise<number> {
    const index = this.index
    const seen = new Set<string>()
    let adopted = 0
    for await (const batch of this.#source()) {
      for (const topic of batch) {
        seen.add(topic)
        if (index.has(topic)) continue
        const maxAge = maxAgeOf(topic)
        index.record(topic, now, maxAge === null ? null : now + maxAge)
        adopted++
      }
      await yieldToLoop()
    }
    // Records whose message is gone; one stored while we scanned is younger than `now`.
    const gone: string[] = []
    for (const topic of index.keys()) {
      if (!seen.has(topic) && index.get(topic)!.storedAt < now) gone.push(topic)
    }
    for (const topic of gone) index.clear(topic)
    return adopted
  }

  size (): number {
    return this.index.size
  }
}
