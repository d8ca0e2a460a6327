/**
 * Same-node takeover [MQTT-3.1.4-2]: Aedes stores the new connection's will,
 * then closes the old client, whose close deletes the stored will by
 * (clientId, node): the new one. aedes-persistence-redis's delWill reads
 * before it deletes, so no write issued meanwhile is safe. Hence the delete is
 * watched (broker/aedes/will-deletes.ts): once it has completed, the
 * connection that took over gets its will stored again, so a crash of this
 * node still recovers it. Which connection took over comes from the old
 * connection's `ended` fact (liveness detects takeovers).
 */
import type { Aedes, Client } from 'aedes'
import { afterWillDeleted, isClosed, liveClient, pendingWill, persistenceOf } from '../../broker/aedes/index.js'
import type { ConnectionEnded } from '../liveness/service.js'

export class TakeoverWillRestore {
  readonly #broker: Aedes
  readonly #nodeId: string
  readonly #reportError: (err: unknown, what: string) => void
  readonly #tookOver = new WeakSet<Client>()

  constructor (broker: Aedes, nodeId: string, reportError: (err: unknown, what: string) => void) {
    this.#broker = broker
    this.#nodeId = nodeId
    this.#reportError = reportError
  }

  /** The `ended` listener: remember the connection that took over on this node. */
  ended (end: ConnectionEnded): void {
    const by = end.displacedBy?.client
    if (by != null) this.#tookOver.add(by)
  }

  /** Aedes assigns its persistence in listen(): install after it. */
  install (): void {
    afterWillDeleted(this.#broker, async (who) => {
      const current = who.brokerId === this.#nodeId ? liveClient(this.#broker, who.id) : undefined
      if (current === undefined || !this.#tookOver.has(current) || isClosed(current)) return
      const will = pendingWill(current)
      if (will === null) return
      this.#tookOver.delete(current)
      await persistenceOf(this.#broker).putWill(current, will).catch((err: unknown) => this.#reportError(err, 'storing the will again after a takeover failed'))
    })
  }
}
