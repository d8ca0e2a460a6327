/**
 * Wills at shutdown. Aedes' broker.close() publishes each client's will but
 * does not wait for the publish, then closes the emitter, so in Redis mode a
 * will could be lost on its way to other nodes. Here every will goes through
 * the composed authorizePublish (so it is stamped, reason server_shutdown) and
 * broker.publish, awaited, before the clients are closed [MQTT-3.1.2-8].
 */
import type { Aedes, Client, PublishPacket } from 'aedes'

interface ClientInternals { will: PublishPacket | null | undefined, _disconnected?: boolean, closed: boolean }

export async function publishWillsForShutdown (broker: Aedes, onError: (err: unknown) => void): Promise<number> {
  const clients = Object.values((broker as unknown as { clients: Record<string, Client> }).clients)
  let published = 0
  await Promise.all(clients.map(async (client) => {
    const internals = client as unknown as ClientInternals
    const will = internals.will
    if (will === null || will === undefined || internals._disconnected === true || internals.closed) return
    // Taken off the client first: broker.close() must not publish it a second time.
    internals.will = null
    // A refusal is a decision (a held or suppressed will), not an error.
    const allowed = await new Promise<boolean>((resolve) => {
      broker.authorizePublish(client, will, (err) => resolve(err === null || err === undefined))
    })
    if (!allowed) return
    try {
      await new Promise<void>((resolve, reject) => {
        (broker.publish as unknown as (p: PublishPacket, c: Client, cb: (e?: Error) => void) => void)(will, client,
          (err) => { if (err) reject(err); else resolve() })
      })
      published++
      const persistence = (broker as unknown as { persistence: { delWill(c: { id: string, brokerId: string }): Promise<unknown> } }).persistence
      await persistence.delWill({ id: client.id, brokerId: broker.id })
    } catch (err) {
      onError(err)
    }
  }))
  return published
}
