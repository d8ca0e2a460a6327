/**
 * Status messages out through the broker: retained, QoS 1, so subscribers and
 * the retained store see them (docs/topics-and-payloads.md). Publishes for one
 * client go out in order; an end is dropped when a newer epoch exists
 * anywhere (Redis mode asks Redis), so an old `offline` never lands on top of
 * a newer `online` in the retained store.
 */
import type { Aedes, PublishPacket } from 'aedes'
import type { EpochSource } from './epochs.js'
import { publishAsync } from '../../broker/publish.js'

export class StatusPublisher {
  readonly #broker: Aedes
  readonly #epochs: EpochSource
  readonly #onError: (err: unknown, what: string) => void
  readonly #chains = new Map<string, Promise<boolean>>()

  constructor (broker: Aedes, epochs: EpochSource, onError: (err: unknown, what: string) => void) {
    this.#broker = broker
    this.#epochs = epochs
    this.#onError = onError
  }

  /**
   * Publish `payload` (empty = clear) on `topic` after earlier publishes for the
   * same client. With `guardEpoch`, skip it if a newer epoch exists. Resolves
   * to whether it was published; never rejects. `retain` false: live only (an
   * observer's status, which must not outlive it).
   */
  publish (clientId: string, topic: string, payload: Buffer, guardEpoch: number | null, retain = true): Promise<boolean> {
    const previous = this.#chains.get(clientId)
    const run = async (): Promise<boolean> => {
      if (previous !== undefined) await previous
      try {
        if (guardEpoch !== null && await this.#epochs.newest(clientId) > guardEpoch) return false
        await this.#send(topic, payload, retain)
        return true
      } catch (err) {
        this.#onError(err, 'status publish failed')
        return false
      }
    }
    const next = run()
    this.#chains.set(clientId, next)
    void next.then(() => { if (this.#chains.get(clientId) === next) this.#chains.delete(clientId) })
    return next
  }

  /** Resolves when every publish started so far is done. */
  async idle (): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()])
  }

  #send (topic: string, payload: Buffer, retain: boolean): Promise<void> {
    const packet = { cmd: 'publish', topic, payload, qos: 1, retain, dup: false } as PublishPacket
    return publishAsync(this.#broker, packet)
  }
}
