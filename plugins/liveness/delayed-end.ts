/**
 * A delayed end (`wills.delay`, docs/topics-and-payloads.md#wills): the
 * offline status of a connection that ended and its will, held back together
 * until `due` (the time of death + the delay). A reconnect of the same
 * clientId within the delay cancels both; when it runs out both are published.
 * A client has at most one delayed end, its newest connection's: an older
 * connection's never replaces a newer one's, and a part (status or will) of the
 * same connection joins the entry. Pure: time is a parameter.
 *
 * Due times sit in a DueIndex (a heap): putting, cancelling and the earliest
 * due time cost O(log n), taking what is due O(k log n). A scan of every entry
 * on each put and each due time cost O(n) per disconnect (issue 15): 50,000
 * wills delayed one after the other took 11 s of event loop.
 */
import { DueIndex } from '../retained/due-index.js'
import type { ClientStatus } from './service.js'

/** The offline status liveness publishes when the delay runs out, and its topic. */
export interface DelayedStatus { status: ClientStatus, topic: string }

/** The will wills publishes when the delay runs out, stamped with the real time of death. */
export interface DelayedWill {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  /** Why the connection ended and when (ms). */
  reason: string
  at: number
  /**
   * The will's own MQTT 5 properties (content type, payload format, response
   * topic, correlation data, user properties, message expiry), published with
   * it; never the Will Delay Interval [MQTT-3.1.3-10]. Absent for a will without any.
   */
  properties?: WillProperties
}

/** MQTT 5 properties of a will, as mqtt-packet decodes them. */
export interface WillProperties {
  correlationData?: Buffer
  userProperties?: Record<string, string | string[]>
  [key: string]: unknown
}

export interface DelayedEnd {
  clientId: string
  /** Epoch of the connection that ended (undefined if unknown: a recovered will without one). */
  epoch: number | undefined
  /** When it falls due (ms). */
  due: number
  status: DelayedStatus | null
  will: DelayedWill | null
}

/** Whether `entry` (the one held) belongs to a connection newer than `epoch` (both known). */
export const newerThan = (entry: { epoch: number | undefined }, epoch: number | undefined): boolean =>
  entry.epoch !== undefined && epoch !== undefined && entry.epoch > epoch

/** The parts of one connection's delayed end, joined: what `part` brings, the rest from `existing`. */
function joined (existing: DelayedEnd, part: DelayedEnd): DelayedEnd {
  const { status, will } = part
  const { status: heldStatus, will: heldWill } = existing
  return { ...part, status: status ?? heldStatus, will: will ?? heldWill }
}

export class DelayedEndIndex {
  readonly #byClient = new Map<string, DelayedEnd>()
  readonly #due = new DueIndex()

  get size (): number { return this.#byClient.size }

  /**
   * Put a part of a delayed end (its status, its will, or both). Same
   * connection: the parts join; an older connection's entry is replaced; a
   * newer one's is kept (returns false).
   */
  put (part: DelayedEnd): boolean {
    const existing = this.#byClient.get(part.clientId)
    if (existing !== undefined && newerThan(existing, part.epoch)) return false
    const entry: DelayedEnd = existing !== undefined && existing.epoch === part.epoch
      ? joined(existing, part)
      : { ...part }
    this.#byClient.set(part.clientId, entry)
    this.#due.record(part.clientId, entry.due, entry.due)
    return true
  }

  /**
   * A connection of `clientId` with `epoch` was accepted (or the client was
   * forgotten: no epoch): its delayed end is cancelled, unless it belongs to a
   * connection at least as new.
   */
  cancel (clientId: string, epoch?: number): DelayedEnd | undefined {
    const existing = this.#byClient.get(clientId)
    if (existing === undefined) return undefined
    if (epoch !== undefined && existing.epoch !== undefined && existing.epoch >= epoch) return undefined
    this.#byClient.delete(clientId)
    this.#due.clear(clientId)
    return existing
  }

  /** Remove and return every entry due at `now`, earliest first. */
  takeDue (now: number): DelayedEnd[] {
    const due: DelayedEnd[] = []
    for (const { key } of this.#due.takeDue(now, Number.POSITIVE_INFINITY)) {
      due.push(this.#byClient.get(key)!)
      this.#byClient.delete(key)
    }
    return due
  }

  /** Remove and return everything, earliest first (shutdown in memory mode: publish now rather than lose). */
  takeAll (): DelayedEnd[] {
    const all = [...this.#byClient.values()].sort((a, b) => a.due - b.due)
    this.#byClient.clear()
    for (const entry of all) this.#due.clear(entry.clientId)
    return all
  }

  /** The earliest due time, or undefined when nothing is delayed. */
  nextDue (): number | undefined {
    return this.#due.nextDue() ?? undefined
  }
}
