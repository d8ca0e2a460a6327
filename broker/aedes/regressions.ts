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
 * 3. The inbound QoS 2 packets a clean session leaves behind [MQTT-3.1.2-6]:
 *    the beta never calls the persistence's cleanIncoming, so a client that
 *    connects clean and reuses a Packet Identifier its previous session left
 *    unreleased has its new PUBLISH taken for a duplicate and never delivered,
 *    and fresh client ids that never send PUBREL grow the store without bound.
 * 4. The bound on inbound QoS 2 PUBLISH awaiting PUBREL (1.2's
 *    maxInflightInbound, 1000): the beta stores up to 65535 per client.
 *    Counted on the parser (strict-packets.ts) with INBOUND_QOS2_WINDOW.
 * 5. A SUBSCRIBE with several filters, one of them `__proto__`: the beta's
 *    lib/handlers/subscribe.js `_dedupe` collects them in a `{}`, where that
 *    key sets the object's prototype; the filter is lost, the sub's own fields
 *    come back as subscriptions, and the handler fails before its SUBACK
 *    [MQTT-3.8.4-1]. Such a filter stands in as PROTO_STANDIN until Aedes has
 *    deduplicated (on the parser for a SUBSCRIBE, on the persistence for a
 *    restored session) and gets its name back when authorizeSubscribe sees it.
 */
import type { Aedes, Client } from 'aedes'

interface BrokerMaps { clients: Record<string, unknown>, brokers: Record<string, unknown> }
interface ClientMaps { subscriptions: Record<string, unknown>, duplicates: Record<string, unknown> }
interface IncomingStore {
  incomingDelPacket(client: unknown, packet: unknown): Promise<unknown>
  cleanIncoming?(client: unknown): Promise<unknown>
  subscriptionsByClient(client: unknown): Promise<Array<{ topic: string }>>
}

/** Inbound QoS 2 PUBLISH a client may have awaiting PUBREL (Aedes 1.2's maxInflightInbound default). */
export const INBOUND_QOS2_WINDOW = 1000

const storeOf = (broker: Aedes): IncomingStore | undefined => (broker as unknown as { persistence?: IncomingStore }).persistence

/**
 * Drop a clean session's inbound QoS 2 packets: when it is registered (after a
 * takeover closed the previous connection, before its CONNACK is written; the
 * persistence runs the delete before any later command of this client) and
 * when it ends. No-op where Aedes does it itself (1.2) or the persistence cannot.
 */
export function cleanIncomingOfCleanSessions (broker: Aedes, cleanStart: (client: Client) => boolean, onError: (err: unknown) => void): void {
  // Aedes 1.x cleans in its CONNECT series and at close.
  if (!String((broker as unknown as { version?: string }).version).startsWith('2.')) return
  const clean = (client: Client): void => {
    const store = storeOf(broker)
    if (store?.cleanIncoming !== undefined) store.cleanIncoming(client).catch(onError)
  }
  broker.on('client', (client) => { if (cleanStart(client)) clean(client) })
  broker.on('clientDisconnect', (client) => { if (client.clean) clean(client) })
}

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
  const store = storeOf(broker)
  if (store !== undefined && !releaseFixed.has(store)) {
    releaseFixed.add(store)
    const del = store.incomingDelPacket.bind(store)
    // Only PUBREL deletes incoming packets: one already gone was released by an earlier PUBREL.
    store.incomingDelPacket = (c, packet) => del(c, packet).catch(() => undefined)
    // A restored session's subscriptions go through `_dedupe` too (5).
    const byClient = store.subscriptionsByClient.bind(store)
    store.subscriptionsByClient = async (c) => {
      const subs = await byClient(c)
      shieldProtoFilters(subs)
      return subs
    }
  }
  const c = client as unknown as ClientMaps
  if (Object.getPrototypeOf(c.subscriptions) !== null) c.subscriptions = nullProto(c.subscriptions)
  if (Object.getPrototypeOf(c.duplicates) !== null) c.duplicates = nullProto(c.duplicates)
}

/** The filter `_dedupe` cannot key, and its stand-in: U+0000 is in no filter a client may send [MQTT-1.5.3-2]. */
const PROTO_FILTER = '__proto__'
const PROTO_STANDIN = '__proto__\u0000'

/** Rename every `__proto__` filter of a several-filter list (one filter skips `_dedupe`). */
export function shieldProtoFilters (subs: Array<{ topic: string }>): void {
  if (subs.length < 2) return
  for (const sub of subs) if (sub.topic === PROTO_FILTER) sub.topic = PROTO_STANDIN
}

/**
 * Install once, after every other authorizeSubscribe wrapper (it must run
 * first): a stand-in gets its name back before any hook or ACL reads it.
 */
export function unshieldProtoFilters (broker: Aedes): void {
  const authorize = broker.authorizeSubscribe.bind(broker)
  broker.authorizeSubscribe = (client, sub, callback) => {
    if (sub.topic === PROTO_STANDIN) sub.topic = PROTO_FILTER
    authorize(client, sub, callback)
  }
}
