/**
 * Offline statuses held for `wills.delay` (docs/topics-and-payloads.md#wills): a reconnect
 * of the same clientId within the delay cancels the hold, so a network flap
 * raises no alarm; when the delay runs out the status goes out with `since` =
 * the real time of death. Pure: time is a parameter.
 */
import type { ClientStatus } from './service.js'
import { TimingWheel, type WheelEntry } from './timing-wheel.js'

export class Hold implements WheelEntry {
  slot = -1
  due = 0
  prev: WheelEntry | null = null
  next: WheelEntry | null = null
  constructor (readonly status: ClientStatus, readonly topic: string) {}
}

export class Holds {
  readonly #byClient = new Map<string, Hold>()
  readonly #wheel: TimingWheel<Hold>

  constructor (resolutionMs: number, now: number) {
    this.#wheel = new TimingWheel<Hold>(resolutionMs, now)
  }

  get size (): number { return this.#byClient.size }

  hold (status: ClientStatus, topic: string, until: number): void {
    this.cancel(status.clientId)
    const hold = new Hold(status, topic)
    this.#byClient.set(status.clientId, hold)
    this.#wheel.insert(hold, until)
  }

  /** Drop the held status of `clientId` if its epoch is below `epoch` (any epoch when omitted). */
  cancel (clientId: string, epoch = Number.POSITIVE_INFINITY): boolean {
    const hold = this.#byClient.get(clientId)
    if (hold === undefined || hold.status.epoch >= epoch) return false
    this.#byClient.delete(clientId)
    this.#wheel.remove(hold)
    return true
  }

  /** The holds whose delay has run out at `now`, removed. */
  due (now: number): Hold[] {
    const out: Hold[] = []
    this.#wheel.sweep(now, (hold) => {
      if (this.#byClient.get(hold.status.clientId) === hold) this.#byClient.delete(hold.status.clientId)
      out.push(hold)
    })
    return out
  }

  /** Every hold, removed (shutdown publishes them at once). */
  drain (): Hold[] {
    const out = [...this.#byClient.values()]
    for (const hold of out) this.#wheel.remove(hold)
    this.#byClient.clear()
    return out
  }
}
