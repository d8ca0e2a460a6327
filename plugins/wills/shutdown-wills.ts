/**
 * Wills at shutdown (the wills plugin's beforeShutdown). Aedes' broker.close()
 * publishes each client's will but does not wait for the publish, then closes
 * the emitter, so in Redis mode a will could be lost on its way to other
 * nodes. Here, before any client is closed, each connected client's will is
 * taken off the client (so broker.close() does not publish it again), passes
 * the composed authorizePublish (stamped, reason server_shutdown; the other
 * plugins' rules apply to it as to any will) and is published, awaited
 * [MQTT-3.1.2-8]. Published or refused, it leaves persistence, or another node
 * would later recover it as node_lost.
 */
import type { Aedes } from 'aedes'
import { isClosed, liveClients, pendingWill, persistenceOf, publishAs, sentDisconnect, takePendingWill, type WillPacket } from '../../broker/aedes/index.js'

export async function publishShutdownWills (broker: Aedes, taken: WeakSet<WillPacket>, onError: (err: unknown) => void): Promise<number> {
  let published = 0
  await Promise.all(liveClients(broker).map(async (client) => {
    if (pendingWill(client) === null || sentDisconnect(client) || isClosed(client)) return
    const will = takePendingWill(client)
    if (will === null) return
    taken.add(will)
    try {
      // A refusal is a decision (a delayed or suppressed will), not an error.
      const allowed = await new Promise<boolean>((resolve) => {
        broker.authorizePublish(client, will, (err) => resolve(err === null || err === undefined))
      })
      if (allowed) {
        await publishAs(broker, will, client)
        published++
      }
      await persistenceOf(broker).delWill({ id: client.id, brokerId: broker.id })
    } catch (err) {
      onError(err)
    }
  }))
  return published
}
