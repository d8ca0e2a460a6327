/**
 * Takeover, detected once, here [MQTT-3.1.4-2]: a clientId connects again
 * while its connection is open. On this node Aedes closes the old client
 * inside registerClient, publishing its will on the way; on another node's
 * CONNECT, Aedes closes it on `$SYS/<node>/new/clients`. Either way the old
 * connection is marked first, so its end (connection-ends.ts) says `takeover`
 * and who displaced it, and neither its offline status nor its will goes out.
 */
import type { Aedes } from 'aedes'
import { liveClient } from '../../broker/aedes/index.js'
import { connectionOf, type Connection } from './connection.js'

/** A CONNECT on this node (`conn`, not yet registered) displaces the open connection of its clientId. */
export function markLocalTakeover (broker: Aedes, conn: Connection, now: number): void {
  const old = liveClient(broker, conn.clientId)
  if (old !== undefined && old !== conn.client) connectionOf(old)?.mark('takeover', now, conn)
}

/**
 * Watch other nodes' CONNECTs. Registered before Aedes' own listener (the
 * plugins are set up before broker.listen()), so a client taken over from
 * another node is marked before Aedes closes it.
 */
export function watchRemoteTakeovers (broker: Aedes, nodeId: string, now: () => number): void {
  broker.subscribe('$SYS/+/new/clients', (packet, done) => {
    const node = packet.topic.split('/')[1]
    if (node !== nodeId) {
      const local = liveClient(broker, packet.payload.toString())
      if (local !== undefined) connectionOf(local)?.mark('takeover', now())
    }
    done()
  }, () => {})
}
