/**
 * Wills at shutdown. Aedes' broker.close() publishes each client's will but
 * does not wait for the publish, then closes the emitter, so in Redis mode a
 * will could be lost on its way to other nodes. Here every will goes through
 * the composed authorizePublish (so it is stamped, reason server_shutdown) and
 * broker.publish, awaited, before the clients are closed [MQTT-3.1.2-8].
 */
import type { Aedes } from 'aedes'
import { isClosed, liveClients, pendingWill, persistenceOf, publishAs, sentDisconnect, takePendingWill } from './aedes/index.js'

export async function publishWillsForShutdown (broker: Aedes, onError: (err: unknown) => void): Promise<number> {
  let published = 0
  await Promise.all(liveClients(broker).map(async (client) => {
    if (pendingWill(client) === null || sentDisconnect(client) || isClosed(client)) return
    // Taken off the client first: broker.close() must not publish it a second time.
    const will = takePendingWill(client)
    if (will === null) return
    // A refusal is a decision (a held or suppressed will), not an error.
    const allowed = await new Promise<boolean>((resolve) => {
      broker.authorizePublish(client, will, (err) => resolve(err === null || err === undefined))
    })
    if (!allowed) return
    try {
      await publishAs(broker, will, client)
      published++
      await persistenceOf(broker).delWill({ id: client.id, brokerId: broker.id })
    } catch (err) {
      onError(err)
    }
  }))
  return published
}
