/**
 * Bucketed deadlines for the liveness sweep (issue 3). Entries sit in slots of
 * `resolutionMs`; an entry is an intrusive list node, so insert and remove are
 * O(1) and allocate nothing. `sweep(now)` visits only the slots that are due
 * and hands each of their entries to the caller, who may insert it again for
 * a later deadline (lazy rescheduling: a heartbeat only moves a timestamp, the
 * entry is re-filed when its old slot comes up). Pure: time is a parameter.
 */
export interface WheelEntry {
  /** Slot number this entry is filed in, or -1 when it is not in the wheel. */
  slot: number
  /** The deadline it was filed for (ms). */
  due: number
  prev: WheelEntry | null
  next: WheelEntry | null
}

export class TimingWheel<T extends WheelEntry> {
  readonly resolutionMs: number
  readonly #slots = new Map<number, T>()
  /** The lowest slot not swept yet. */
  #cursor: number
  #size = 0

  constructor (resolutionMs: number, startMs: number) {
    if (!(resolutionMs > 0)) throw new RangeError('resolutionMs must be > 0')
    this.resolutionMs = resolutionMs
    this.#cursor = Math.floor(startMs / resolutionMs)
  }

  get size (): number { return this.#size }

  /** File `entry` for `due` (ms); moves it if it was filed already. */
  insert (entry: T, due: number): void {
    if (entry.slot !== -1) this.remove(entry)
    // ceil: every entry of slot s is due at or before s * resolution, so sweeping
    // slot s at a time >= s * resolution never fires early.
    let slot = Math.ceil(due / this.resolutionMs)
    if (slot < this.#cursor) slot = this.#cursor
    entry.due = due
    entry.slot = slot
    entry.prev = null
    const head = this.#slots.get(slot)
    entry.next = head ?? null
    if (head !== undefined) head.prev = entry
    this.#slots.set(slot, entry)
    this.#size++
  }

  remove (entry: T): void {
    if (entry.slot === -1) return
    if (entry.prev !== null) {
      entry.prev.next = entry.next
    } else if (entry.next !== null) {
      this.#slots.set(entry.slot, entry.next as T)
    } else {
      this.#slots.delete(entry.slot)
    }
    if (entry.next !== null) entry.next.prev = entry.prev
    entry.slot = -1
    entry.prev = null
    entry.next = null
    this.#size--
  }

  /**
   * Take every entry whose slot is due at `now` out of the wheel and pass it to
   * `visit` (which may insert it again). Returns how many entries were visited.
   */
  sweep (now: number, visit: (entry: T) => void): number {
    const last = Math.floor(now / this.resolutionMs)
    if (last < this.#cursor) return 0
    let visited = 0
    if (last - this.#cursor > this.#slots.size) {
      // A long gap (a clock jump, or a wheel asleep for long): walk the filled
      // slots instead of every empty one in between.
      const due = [...this.#slots.keys()].filter((slot) => slot <= last).sort((a, b) => a - b)
      this.#cursor = last + 1
      for (const slot of due) visited += this.#drain(slot, visit)
    } else {
      while (this.#cursor <= last) {
        const slot = this.#cursor++
        visited += this.#drain(slot, visit)
      }
    }
    return visited
  }

  #drain (slot: number, visit: (entry: T) => void): number {
    let entry: T | undefined | null = this.#slots.get(slot)
    if (entry === undefined) return 0
    this.#slots.delete(slot)
    let visited = 0
    while (entry !== null) {
      const next = entry.next as T | null
      entry.slot = -1
      entry.prev = null
      entry.next = null
      this.#size--
      visited++
      visit(entry)
      entry = next
    }
    return visited
  }
}
