/**
 * A keyed index ordered by due time: every key (a retained topic, or an
 * offline clientId) has a stored time and an optional due time. Keys with a
 * due time sit in an indexed binary min-heap, so recording, re-recording and
 * clearing a key are O(log n) and taking what is due costs O(k log n) for the
 * k due keys: a sweep never walks the keys that are not due. Pure: the caller
 * passes the time.
 */

export interface DueEntry {
  readonly key: string
  storedAt: number
  /** null: known (counted) but never due. */
  dueAt: number | null
  /** Position in the heap, -1 when not in it. */
  pos: number
}

export interface Due { key: string, storedAt: number, dueAt: number }

export class DueIndex {
  readonly #entries = new Map<string, DueEntry>()
  readonly #heap: DueEntry[] = []

  /** How many keys are known (due or not). */
  get size (): number {
    return this.#entries.size
  }

  /** How many keys have a due time. */
  get scheduled (): number {
    return this.#heap.length
  }

  has (key: string): boolean {
    return this.#entries.has(key)
  }

  get (key: string): Readonly<DueEntry> | undefined {
    return this.#entries.get(key)
  }

  /** Record (or re-record) a key: a republish replaces the stored and due time. */
  record (key: string, storedAt: number, dueAt: number | null): void {
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      entry = { key, storedAt, dueAt, pos: -1 }
      this.#entries.set(key, entry)
    } else {
      entry.storedAt = storedAt
      entry.dueAt = dueAt
    }
    if (dueAt === null) {
      if (entry.pos !== -1) this.#removeAt(entry.pos)
    } else if (entry.pos === -1) {
      entry.pos = this.#heap.length
      this.#heap.push(entry)
      this.#up(entry.pos)
    } else {
      this.#down(this.#up(entry.pos))
    }
  }

  /** Forget a key (an empty retained publish cleared it). Returns whether it was known. */
  clear (key: string): boolean {
    const entry = this.#entries.get(key)
    if (entry === undefined) return false
    this.#entries.delete(key)
    if (entry.pos !== -1) this.#removeAt(entry.pos)
    return true
  }

  /** The earliest due time, or null when nothing is scheduled. */
  nextDue (): number | null {
    return this.#heap[0]?.dueAt ?? null
  }

  /**
   * Remove and return up to `limit` keys due at `now` (dueAt <= now), earliest
   * first. Taking is the claim: a key taken is no longer in the index.
   */
  takeDue (now: number, limit: number): Due[] {
    const out: Due[] = []
    while (out.length < limit) {
      const top = this.#heap[0]
      if (top === undefined || top.dueAt! > now) break
      this.#removeAt(0)
      this.#entries.delete(top.key)
      out.push({ key: top.key, storedAt: top.storedAt, dueAt: top.dueAt! })
    }
    return out
  }

  /** Every key, for reconciliation passes. */
  keys (): IterableIterator<string> {
    return this.#entries.keys()
  }

  #removeAt (pos: number): void {
    const heap = this.#heap
    const removed = heap[pos]!
    const last = heap.pop()!
    removed.pos = -1
    if (pos < heap.length) {
      heap[pos] = last
      last.pos = pos
      this.#down(this.#up(pos))
    }
  }

  /** Sift up; returns the final position. */
  #up (pos: number): number {
    const heap = this.#heap
    const entry = heap[pos]!
    const due = entry.dueAt!
    while (pos > 0) {
      const parentPos = (pos - 1) >> 1
      const parent = heap[parentPos]!
      if (parent.dueAt! <= due) break
      heap[pos] = parent
      parent.pos = pos
      pos = parentPos
    }
    heap[pos] = entry
    entry.pos = pos
    return pos
  }

  #down (pos: number): void {
    const heap = this.#heap
    const n = heap.length
    const entry = heap[pos]!
    const due = entry.dueAt!
    for (;;) {
      const left = 2 * pos + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && heap[right]!.dueAt! < heap[left]!.dueAt! ? right : left
      const childEntry = heap[child]!
      if (childEntry.dueAt! >= due) break
      heap[pos] = childEntry
      childEntry.pos = pos
      pos = child
    }
    heap[pos] = entry
    entry.pos = pos
  }
}
