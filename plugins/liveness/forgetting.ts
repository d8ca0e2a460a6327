/**
 * Forgetting (`liveness.forgetAfter`, docs/topics-and-payloads.md#retained-lifecycle): the status of a
 * client offline longer than `liveness.forgetAfter` is cleared and the client
 * leaves the fleet view. The retained plugin's sweep drives it
 * (`liveness.forgetDue`), so one sweep clears expired retained messages and
 * forgotten statuses alike and counts them together. Offline clients sit in a
 * DueIndex keyed by clientId (due = since + forgetAfter), kept current from
 * liveness transitions, so a sweep only touches the clients that are due. A
 * connected (online or silent) client is never in the index, and each due one
 * is checked against the fleet view again before it is forgotten.
 */
import { DueIndex } from '../retained/due-index.js'
import type { LivenessService } from './service.js'

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A failed forget is tried again by this node after this long. */
const RETRY_MS = 60_000

export interface ForgettingDeps {
  liveness: Pick<LivenessService, 'onTransition' | 'list' | 'get' | 'forget'>
  forgetAfter: number
  batchSize: number
  /**
   * Cluster-wide claim for forgetting this client's offline spell (one node
   * forgets it, whichever nodes sweep). Memory mode: always true.
   */
  claim(clientId: string, epoch: number, since: number): Promise<boolean>
  onError(err: unknown, what: string): void
}

export class Forgetting {
  readonly index = new DueIndex()
  readonly #deps: ForgettingDeps
  #unsubscribe: (() => void) | null = null

  constructor (deps: ForgettingDeps) {
    this.#deps = deps
  }

  /** Follow liveness transitions and seed the index with the clients offline now. */
  start (): void {
    const { liveness } = this.#deps
    this.#unsubscribe = liveness.onTransition((status) => this.#track(status.clientId, status.state === 'offline' && status.kind !== 'observer', status.since))
    for (const status of liveness.list('offline')) this.#track(status.clientId, true, status.since)
  }

  stop (): void {
    this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  #track (clientId: string, offline: boolean, since: number): void {
    if (offline) this.index.record(clientId, since, since + this.#deps.forgetAfter)
    else this.index.clear(clientId)
  }

  /** Forget every client due at `now`, in batches; resolves with how many were forgotten. */
  async sweep (now: number): Promise<number> {
    const { liveness, forgetAfter, batchSize } = this.#deps
    let forgotten = 0
    for (;;) {
      const batch = this.index.takeDue(now, batchSize)
      const results = await Promise.all(batch.map(async ({ key: clientId }) => {
        const status = liveness.get(clientId)
        // Gone from the fleet view, reconnected, or offline again more recently: not (yet) due.
        if (status === undefined || status.state !== 'offline') return false
        if (status.since + forgetAfter > now) {
          this.#track(clientId, true, status.since)
          return false
        }
        try {
          if (!await this.#deps.claim(clientId, status.epoch, status.since)) return false
          await liveness.forget(clientId)
          return true
        } catch (err) {
          this.#deps.onError(err, 'forgetting an offline client failed')
          this.index.record(clientId, status.since, now + RETRY_MS)
          return false
        }
      }))
      for (const done of results) if (done) forgotten++
      if (batch.length < batchSize) break
      await yieldToLoop()
    }
    return forgotten
  }
}
