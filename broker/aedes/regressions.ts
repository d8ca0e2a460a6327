/**
 * Fixes Aedes 1.2 has and aedes 2.0.0-beta.1 lost (the beta branched before
 * the 1.2 security release), installed once at start-up; each is a no-op on
 * an Aedes that has the fix.
 *
 * 1. Maps keyed by what a client sends (client ids, broker ids, topic filters)
 *    must not inherit names (GHSA-52qw-whmv-87c5). With the beta's plain `{}`,
 *    a CONNECT with the ClientId `constructor` (or `__proto__`, `toString`)
 *    makes registerClient call `this.clients['constructor'].disconnect`, a
 *    TypeError thrown out of the connection's stack: the process ends.
 * 2. A PUBREL whose packet another PUBREL already released: the beta's
 *    lib/handlers/pubrel.js ends `incomingDelPacket(...)` with `.finally()`, so
 *    the memory persistence's 'no such packet' becomes an unhandled rejection
 *    (1.2 catches it; PUBCOMP is owed either way [MQTT-4.3.3-11]).
 */
import type { Aedes, Client } from 'aedes'

interface BrokerMaps { clients: Record<string, unknown>, brokers: Record<string, unknown> }
interface ClientMaps { subscriptions: Record<string, unknown>, duplicates: Record<string, unknown> }
interface IncomingStore { incomingDelPacket(client: unknown, packet: unknown): Promise<unknown> }

const nullProto = (from: Record<string, unknown>): Record<string, unknown> => Object.assign(Object.create(null) as Record<string, unknown>, from)

/** Before the broker listens: its maps by id. */
export function fixBrokerRegressions (broker: Aedes): void {
  const b = broker as unknown as BrokerMaps
  if (Object.getPrototypeOf(b.clients) !== null) b.clients = nullProto(b.clients)
  if (Object.getPrototypeOf(b.brokers) !== null) b.brokers = nullProto(b.brokers)
}

const releaseFixed = new WeakSet<object>()

/**
 * As each client is created: its subscriptions by filter and its duplicate
 * filter by broker id; and, the first time (Aedes sets its persistence up in
 * listen()), the PUBREL release.
 */
export function fixClientRegressions (broker: Aedes, client: Client): void {
  const store = (broker as unknown as { persistence?: IncomingStore }).persistence
  if (store !== undefined && !releaseFixed.has(store)) {
    releaseFixed.add(store)
    const del = store.incomingDelPacket.bind(store)
    // Only PUBREL deletes incoming packets: one already gone was released by an earlier PUBREL.
    store.incomingDelPacket = (c, packet) => del(c, packet).catch(() => undefined)
  }
  const c = client as unknown as ClientMaps
  if (Object.getPrototypeOf(c.subscriptions) !== null) c.subscriptions = nullProto(c.subscriptions)
  if (Object.getPrototypeOf(c.duplicates) !== null) c.duplicates = nullProto(c.duplicates)
}
