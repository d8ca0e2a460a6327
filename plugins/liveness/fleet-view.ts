/**
 * The current status of every client known to the fleet, from this node's
 * transitions and from other nodes' status messages. A status from an older
 * epoch never replaces a newer one (CONTRACT.md section 3); within one epoch
 * `offline` is final. Counts per state are kept incrementally so the
 * `vigil_devices` gauge costs O(1). Pure.
 */
import type { ClientStatus, LivenessState } from './service.js'

export interface ViewEntry { status: ClientStatus, topic: string }

export class FleetView {
  readonly #entries = new Map<string, ViewEntry>()
  /** Epochs of forgotten clients: statuses at or below them stay forgotten. */
  readonly #forgotten = new Map<string, number>()
  readonly #counts: Record<LivenessState, number> = { online: 0, silent: 0, offline: 0 }

  /**
   * Whether `status` would be accepted: a newer epoch always; the same epoch
   * unless the current one is offline (final) or the status is not newer.
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
    return status.since > cur.since || (status.since === cur.since && status.state !== cur.state)
  }

  /** Accept `status` if it is newer; returns `{ previous }` when accepted, null when ignored. */
  accept (status: ClientStatus, topic: string): { previous: ClientStatus | undefined } | null {
    if (!this.acceptable(status)) return null
    const current = this.#entries.get(status.clientId)
    const previous = current?.status
    if (current !== undefined) {
      this.#counts[current.status.state]--
      current.status = status
      current.topic = topic
    } else {
      this.#forgotten.delete(status.clientId)
      this.#entries.set(status.clientId, { status, topic })
    }
    this.#counts[status.state]++
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
      this.#counts[current.status.state]--
      this.#entries.delete(clientId)
    }
    this.#forgotten.set(clientId, floor)
  }

  /** The newest epoch known for a client (forgotten ones included), or 0. */
  epoch (clientId: string): number {
    return this.#entries.get(clientId)?.status.epoch ?? this.#forgotten.get(clientId) ?? 0
  }

  list (state?: LivenessState): ClientStatus[] {
    const out: ClientStatus[] = []
    for (const { status } of this.#entries.values()) if (state === undefined || status.state === state) out.push(status)
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

  counts (): Record<LivenessState, number> {
    return { ...this.#counts }
  }

  get size (): number { return this.#entries.size }
}
