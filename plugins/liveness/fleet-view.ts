/**
 * The current status of every client known to the fleet, from this node's
 * transitions and from other nodes' status messages. A status from an older
 * epoch never replaces a newer one (docs/topics-and-payloads.md); within one epoch
 * `offline` is final. Counts per state are kept incrementally so the
 * `vigil_devices` gauge costs O(1); observers are counted apart, never as
 * devices. Pure.
 */
import type { ClientKind, ClientStatus, LivenessState } from './service.js'

/** The fields that may change between two statuses of one state (a refresh, issue 18). */
const SNAPSHOT_FIELDS = ['lastHeartbeat', 'lastPacket', 'kind', 'fw', 'restarts', 'lastRestart', 'clockSkewMs', 'flapping', 'address'] as const

const sameSnapshot = (a: ClientStatus, b: ClientStatus): boolean => {
  for (const field of SNAPSHOT_FIELDS) if (a[field] !== b[field]) return false
  return true
}

export interface ViewEntry { status: ClientStatus, topic: string }

export class FleetView {
  readonly #entries = new Map<string, ViewEntry>()
  /** Epochs of forgotten clients: statuses at or below them stay forgotten. */
  readonly #forgotten = new Map<string, number>()
  readonly #counts: Record<LivenessState, number> = { online: 0, silent: 0, offline: 0 }
  #observers = 0

  /**
   * Whether `status` would be accepted: a newer epoch always; the same epoch
   * unless the current one is offline (final) or the status is not newer. A
   * status of the same state and since is a refresh (one node publishes an
   * epoch's statuses, in order): accepted when some field changed.
   */
  acceptable (status: ClientStatus): boolean {
    const current = this.#entries.get(status.clientId)
    if (current === undefined) {
      const floor = this.#forgotten.get(status.clientId)
      return floor === undefined || status.epoch > floor
    }
    const cur = current.status
    if (status.epoch !== cur.epoch) return status.epoch > cur.epoch
    if (cur.state === 'offline') return false
    if (status.state === 'offline') return true
    if (status.since !== cur.since) return status.since > cur.since
    return status.state !== cur.state || !sameSnapshot(status, cur)
  }

  /** Accept `status` if it is newer; returns `{ previous }` when accepted, null when ignored. */
  accept (status: ClientStatus, topic: string): { previous: ClientStatus | undefined } | null {
    if (!this.acceptable(status)) return null
    const current = this.#entries.get(status.clientId)
    const previous = current?.status
    if (current !== undefined) {
      this.#uncount(current.status)
      current.status = status
      current.topic = topic
    } else {
      this.#forgotten.delete(status.clientId)
      this.#entries.set(status.clientId, { status, topic })
    }
    this.#count(status)
    return { previous }
  }

  get (clientId: string): ClientStatus | undefined {
    return this.#entries.get(clientId)?.status
  }

  topicOf (clientId: string): string | undefined {
    return this.#entries.get(clientId)?.topic
  }

  /** Drop a client; statuses of its epoch or older stay ignored afterwards. */
  forget (clientId: string, epoch?: number): void {
    const current = this.#entries.get(clientId)
    const floor = Math.max(epoch ?? 0, current?.status.epoch ?? 0, this.#forgotten.get(clientId) ?? 0)
    if (current !== undefined) {
      this.#uncount(current.status)
      this.#entries.delete(clientId)
    }
    this.#forgotten.set(clientId, floor)
  }

  /** The newest epoch known for a client (forgotten ones included), or 0. */
  epoch (clientId: string): number {
    return this.#entries.get(clientId)?.status.epoch ?? this.#forgotten.get(clientId) ?? 0
  }

  /** Statuses of `kind` ('all': both), optionally of one state. */
  list (state?: LivenessState, kind: ClientKind | 'all' = 'device'): ClientStatus[] {
    const out: ClientStatus[] = []
    for (const { status } of this.#entries.values()) {
      if ((state === undefined || status.state === state) && (kind === 'all' || status.kind === kind)) out.push(status)
    }
    return out
  }

  /** Entries whose connection was held by `node` and has not ended. */
  connectedOn (node: string): ViewEntry[] {
    const out: ViewEntry[] = []
    for (const entry of this.#entries.values()) {
      if (entry.status.node === node && entry.status.state !== 'offline') out.push(entry)
    }
    return out
  }

  /** Devices per state; observers are not devices. */
  counts (): Record<LivenessState, number> {
    return { ...this.#counts }
  }

  get observers (): number { return this.#observers }

  #count (status: ClientStatus): void {
    if (status.kind === 'observer') this.#observers++
    else this.#counts[status.state]++
  }

  #uncount (status: ClientStatus): void {
    if (status.kind === 'observer') this.#observers--
    else this.#counts[status.state]--
  }

  get size (): number { return this.#entries.size }
}
