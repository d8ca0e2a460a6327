/**
 * What broker/aedes/mqtt5.ts and regressions.ts rely on in the installed Aedes
 * (2.0.0-beta.1): an upgrade that moves one of these fails here, by name.
 */
import t from 'tap'
import type { Client } from 'aedes'
import { startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'

t.test('Aedes 2 internals the MQTT 5 boundary reads', async (t) => {
  const broker = await startBroker(t)
  const aedes = broker.broker as unknown as { version: string, clients: Record<string, Client>, brokers: object, persistence: { incomingDelPacket: unknown, cleanIncoming?: unknown } }
  t.match(aedes.version, /^2\./, 'Aedes 2 (regressions.ts keys its clean-session fix on the major version)')
  t.equal(Object.getPrototypeOf(aedes.clients), null, 'clients map without prototype (fixed at start-up)')
  t.equal(Object.getPrototypeOf(aedes.brokers), null, 'brokers map without prototype (fixed at start-up)')
  t.type(aedes.persistence.cleanIncoming, 'function', 'the persistence can drop incoming packets (aedes-persistence >= 11)')
  await connectClient(t, broker.url, { protocolVersion: 5, clientId: 'pin-5', properties: { sessionExpiryInterval: 7 } })
  const client = await waitFor(() => aedes.clients['pin-5'], 5000, 'the client registered')
  t.equal(client.version, 5, 'client.version')
  t.equal(client.sessionExpiryInterval, 7, 'client.sessionExpiryInterval (willDelayOf bounds the delay by it)')
  t.type(client.disconnect, 'function', 'client.disconnect (endForRefusedPublish)')
  t.equal((client as unknown as { errored?: boolean }).errored, false, 'client.errored (errorKeepsConnection)')
  t.equal(Object.getPrototypeOf((client as unknown as { subscriptions: object }).subscriptions), null, 'subscriptions map without prototype')
  t.equal(Object.getPrototypeOf((client as unknown as { duplicates: object }).duplicates), null, 'duplicates map without prototype')
})
