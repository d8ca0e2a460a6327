// The page's model of the fleet: every device's latest status, the counts by
// state, and the filtered, sorted view the table shows. Pure (no DOM), so it is
// tested in Node as well as used in the browser.
//
// Keeping the view sorted is the cost that grows with the fleet. A handful of
// updates (the usual frame) moves each changed row by binary search and splice,
// O(log n + n) memmove, instead of re-sorting 20,000 rows; a big batch rebuilds.

export const STATES = ['online', 'silent', 'offline']

/** Table columns: key in the status object, header text, how to compare and show it. */
export const COLUMNS = [
  { key: 'clientId', label: 'Device', type: 'text' },
  { key: 'state', label: 'State', type: 'state' },
  { key: 'since', label: 'Since', type: 'time' },
  { key: 'reason', label: 'Reason', type: 'text' },
  { key: 'lastHeartbeat', label: 'Last heartbeat', type: 'time' },
  { key: 'node', label: 'Node', type: 'text' },
  { key: 'fw', label: 'Firmware', type: 'text' },
  { key: 'restarts', label: 'Restarts', type: 'number' },
  { key: 'clockSkewMs', label: 'Clock skew', type: 'number' }
]

const STATE_RANK = { online: 0, silent: 1, offline: 2 }
/** Above this many statuses in one batch, one rebuild beats moving rows one by one. */
const REBUILD_AT = 64

const isMissing = (v) => v === null || v === undefined

/**
 * Whether `next` may replace `current`: an older epoch never does, and within
 * an epoch an older `since` never does (the broker's own rule, kept here
 * because the initial list and the live stream can cross).
 */
export function newer (current, next) {
  if (current === undefined) return true
  if (next.epoch !== current.epoch) return next.epoch > current.epoch
  return next.since >= current.since
}

export class Fleet {
  constructor () {
    this.byId = new Map()
    /** Decommissioned devices: statuses of their epoch or older (the kick's own offline) stay out. */
    this.forgotten = new Map()
    this.counts = { online: 0, silent: 0, offline: 0 }
    this.view = []
    this.state = null
    this.search = ''
    this.sortKey = 'clientId'
    this.sortDir = 1
    this.compare = this.compare.bind(this)
  }

  get size () { return this.byId.size }

  matches (s) {
    if (this.state !== null && s.state !== this.state) return false
    return this.search === '' || s.clientId.toLowerCase().includes(this.search)
  }

  /** Total order: the sort column (missing values last, either direction), then clientId. */
  compare (a, b) {
    const key = this.sortKey
    if (key !== 'clientId') {
      let x = a[key]
      let y = b[key]
      const mx = isMissing(x)
      const my = isMissing(y)
      if (mx !== my) return mx ? 1 : -1
      if (!mx) {
        if (key === 'state') { x = STATE_RANK[x]; y = STATE_RANK[y] }
        if (typeof x === 'boolean') { x = x ? 1 : 0; y = y ? 1 : 0 }
        if (x < y) return -this.sortDir
        if (x > y) return this.sortDir
      }
    }
    const dir = key === 'clientId' ? this.sortDir : 1
    return a.clientId < b.clientId ? -dir : a.clientId > b.clientId ? dir : 0
  }

  /** Replace everything (first load, reconnect). */
  load (statuses) {
    this.byId.clear()
    this.counts = { online: 0, silent: 0, offline: 0 }
    for (const s of statuses) if (s.kind !== 'observer') this.#put(s)
    this.rebuild()
  }

  setFilter (state, search) {
    this.state = state
    this.search = search.trim().toLowerCase()
    this.rebuild()
  }

  setSort (key, dir) {
    this.sortKey = key
    this.sortDir = dir
    this.rebuild()
  }

  rebuild () {
    const view = []
    for (const s of this.byId.values()) if (this.matches(s)) view.push(s)
    view.sort(this.compare)
    this.view = view
  }

  /** Apply a batch of statuses; returns how many were taken (stale ones are not). */
  apply (statuses) {
    if (statuses.length > REBUILD_AT) {
      let taken = 0
      for (const s of statuses) if ((s.kind === 'observer' ? this.#dropObserver(s, false) : this.#put(s)) !== null) taken++
      if (taken > 0) this.rebuild()
      return taken
    }
    let taken = 0
    for (const s of statuses) {
      if (s.kind === 'observer') {
        if (this.#dropObserver(s, true) !== null) taken++
        continue
      }
      const old = this.#put(s)
      if (old === null) continue
      taken++
      if (old !== undefined && this.matches(old)) {
        const i = this.#indexOf(old)
        if (i >= 0) this.view.splice(i, 1)
      }
      if (this.matches(s)) this.view.splice(this.#insertionPoint(s), 0, s)
    }
    return taken
  }

  /** Decommissioned: gone, and statuses of its epoch or older stay out. */
  remove (clientId) {
    const old = this.byId.get(clientId)
    if (old === undefined) return false
    this.forgotten.set(clientId, old.epoch)
    this.#drop(old, true)
    return true
  }

  #drop (old, inView) {
    this.byId.delete(old.clientId)
    this.counts[old.state]--
    if (inView && this.matches(old)) {
      const i = this.#indexOf(old)
      if (i >= 0) this.view.splice(i, 1)
    }
  }

  /**
   * Observers (dashboards, loggers: no will, no heartbeat) are not devices and the
   * device list leaves them out; a newer observer status of a listed id (it came
   * back as one) takes it off the table. Returns the dropped status, or null.
   */
  #dropObserver (s, inView) {
    const old = this.byId.get(s.clientId)
    if (old === undefined || !newer(old, s)) return null
    this.#drop(old, inView)
    return old
  }

  /** Stores `s`; returns the status it replaced (undefined if new), or null when `s` is stale. */
  #put (s) {
    const old = this.byId.get(s.clientId)
    if (!newer(old, s)) return null
    const floor = this.forgotten.get(s.clientId)
    if (floor !== undefined) {
      if (s.epoch <= floor) return null
      this.forgotten.delete(s.clientId)
    }
    if (old !== undefined) this.counts[old.state]--
    this.counts[s.state] = (this.counts[s.state] ?? 0) + 1
    this.byId.set(s.clientId, s)
    return old
  }

  #insertionPoint (s) {
    let lo = 0
    let hi = this.view.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compare(this.view[mid], s) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  #indexOf (s) {
    const i = this.#insertionPoint(s)
    return i < this.view.length && this.view[i].clientId === s.clientId ? i : -1
  }
}
