/**
 * A decommissioned client's retained topics are held empty for a while: its
 * will, its offline status and any late publish must not re-create what the
 * decommission cleared (a kicked client's will is published after the kick,
 * later still with `wills.delay`). While a clientId is held, retained publishes
 * on `devices/{clientId}` and below, and on its status topic, are not stored.
 */
import type { Scheduler, ScheduledTask } from '../../broker/scheduler.js'
import type { StatusTopic } from './status-topic.js'

export class RetainedHold {
  readonly #held = new Map<string, ScheduledTask>()
  readonly #statusTopic: StatusTopic
  readonly #scheduler: Scheduler

  constructor (statusTopic: StatusTopic, scheduler: Scheduler) {
    this.#statusTopic = statusTopic
    this.#scheduler = scheduler
  }

  /** Whether anything is held (the hot-path check). */
  get active (): boolean {
    return this.#held.size > 0
  }

  add (clientId: string, ms: number): void {
    this.#held.get(clientId)?.cancel()
    const release = this.#scheduler.after(ms, () => {
      if (this.#held.get(clientId) === release) this.#held.delete(clientId)
    })
    this.#held.set(clientId, release)
  }

  /** The held clientId `topic` belongs to, and whether it is the status topic. */
  ownerOf (topic: string): { clientId: string, status: boolean } | undefined {
    for (const clientId of this.#held.keys()) {
      if (topic.startsWith('devices/') && topic.startsWith(clientId, 8) &&
        (topic.length === 8 + clientId.length || topic.charCodeAt(8 + clientId.length) === 47 /* '/' */)) {
        return { clientId, status: false }
      }
    }
    const statusOf = this.#statusTopic.clientOf(topic)
    if (statusOf !== undefined && this.#held.has(statusOf)) return { clientId: statusOf, status: true }
    return undefined
  }

  close (): void {
    for (const release of this.#held.values()) release.cancel()
    this.#held.clear()
  }
}
