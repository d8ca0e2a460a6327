/**
 * The retained topics of a decommissioned client stay clear for a while: its
 * will, its offline status and any late publish must not re-create what the
 * decommission cleared (a kicked client's will is published after the kick).
 * While a clientId is listed here, retained publishes on `devices/{clientId}`
 * and below, and on its status topic, are not stored.
 */
import type { Scheduler, ScheduledTask } from '../../broker/scheduler.js'
import type { StatusTopic } from '../liveness/status-topic.js'

export class DecommissionedTopics {
  readonly #clients = new Map<string, ScheduledTask>()
  readonly #statusTopic: StatusTopic
  readonly #scheduler: Scheduler

  constructor (statusTopic: StatusTopic, scheduler: Scheduler) {
    this.#statusTopic = statusTopic
    this.#scheduler = scheduler
  }

  /** Whether any client is listed (the hot-path check). */
  get active (): boolean {
    return this.#clients.size > 0
  }

  add (clientId: string, ms: number): void {
    this.#clients.get(clientId)?.cancel()
    const release = this.#scheduler.after(ms, () => {
      if (this.#clients.get(clientId) === release) this.#clients.delete(clientId)
    })
    this.#clients.set(clientId, release)
  }

  /** The listed clientId `topic` belongs to, and whether it is the status topic. */
  ownerOf (topic: string): { clientId: string, status: boolean } | undefined {
    for (const clientId of this.#clients.keys()) {
      if (topic.startsWith('devices/') && topic.startsWith(clientId, 8) &&
        (topic.length === 8 + clientId.length || topic.charCodeAt(8 + clientId.length) === 47 /* '/' */)) {
        return { clientId, status: false }
      }
    }
    const statusOf = this.#statusTopic.clientIdOf(topic) ?? undefined
    if (statusOf !== undefined && this.#clients.has(statusOf)) return { clientId: statusOf, status: true }
    return undefined
  }

  close (): void {
    for (const release of this.#clients.values()) release.cancel()
    this.#clients.clear()
  }
}
