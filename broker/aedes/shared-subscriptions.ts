/**
 * MQTT 5 shared subscriptions, `$share/{ShareName}/{filter}` [MQTT-4.8.2]
 * (issue 20, test/conformance5/ shared_subscription), on aedes 2.0.0-beta.1,
 * which refuses them (lib/handlers/subscribe.js doSubscribe: SUBACK 0x9E for
 * an MQTT 5 client) and advertises Shared Subscription Available 0.
 *
 * Aedes keeps the subscription under its full name, as any other: in the
 * client's subscriptions, in the session (so a persistent session restores
 * it through the same path), in UNSUBSCRIBE. Vigil changes three things:
 * - On the parser (strict-packets.ts), a `$share/` filter stands in with
 *   U+0000 for its '$' (no filter a client sends has one [MQTT-1.5.3-2]), so
 *   Aedes' refusal passes it by, and with Retain Handling 2: no retained
 *   messages for a shared subscription [MQTT-4.8.2]. One with an invalid
 *   ShareName is kept from Aedes and answered 0x8F with a Reason String; No
 *   Local on one is a Protocol Error [MQTT-3.8.3-4]: DISCONNECT 0x82, as
 *   Mosquitto does.
 * - authorizeSubscribe gives the stand-in its name back (before the session
 *   stores it) and asks the hooks (the ACL) about the real filter.
 * - broker.subscribe and broker.unsubscribe of a `$share/` name join and
 *   leave a group (shared-delivery.ts: one listener per group on the real
 *   filter, one member per message, in turn; in Redis mode across the nodes,
 *   broker/shared-cluster.ts).
 * A member whose persistent session outlives its connection stays in the
 * group, offline; the session's end (expiry, a clean start, UNSUBSCRIBE)
 * takes it out.
 */
import type { Aedes, Client, Subscription } from 'aedes'
import type { Redis } from 'ioredis'
import MQEmitter from 'mqemitter'
import { Counter, type Registry } from 'prom-client'
import { parseShare, SHARE_PREFIX } from '../shared-groups.js'
import { shareAcrossNodes } from '../shared-cluster.js'
import { SharedGroups, type Deliver, type QueueStore } from './shared-delivery.js'
import { oweConnackFix, oweSubackCodes, type OwedCode } from './suback-reasons.js'

/** The stand-in's first character, in place of '$'. */
const STANDIN_START = '\u0000'
const STANDIN_PREFIX = STANDIN_START + SHARE_PREFIX.slice(1)
const TOPIC_FILTER_INVALID = 0x8f
const PROTOCOL_ERROR = 0x82
const REFUSED_311 = 0x80

interface SessionStore extends QueueStore {
  cleanSubscriptions(client: { id: string }): Promise<unknown>
  subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string, rh?: number }>>
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<unknown>
}

/** Brokers with shared subscriptions installed. */
const installed = new WeakSet<object>()

export interface SharedSubscribeLike {
  messageId?: number
  subscriptions: Array<{ topic: string, qos: number, nl?: boolean, rh?: number }>
}

/**
 * On the parser, before Aedes sees a SUBSCRIBE (strict-packets.ts; the
 * CONNECT's protocol version, since a SUBSCRIBE sent right behind the CONNECT
 * is parsed before Aedes sets the client's): what to end the connection for
 * (a Protocol Error), or null. Stands the valid
 * `$share/` filters in and keeps the refused ones from Aedes, owing their
 * codes to the SUBACK.
 */
export function shieldSharedFilters (client: Client, packet: SharedSubscribeLike, protocolVersion: number): { reason: string, reasonCode: number } | null {
  if (!installed.has((client as unknown as { broker: object }).broker)) return null
  const subs = packet.subscriptions
  let refused: OwedCode[] | null = null
  for (let i = 0; i < subs.length; i++) {
    const sub = subs[i]!
    const share = parseShare(sub.topic)
    if (share === null) continue
    if ('problem' in share) {
      (refused ??= []).push({ index: i, code: protocolVersion === 5 ? TOPIC_FILTER_INVALID : REFUSED_311, reason: share.problem })
      continue
    }
    if (sub.nl === true) return { reason: `No Local on the shared subscription ${sub.topic} [MQTT-3.8.3-4]`, reasonCode: PROTOCOL_ERROR }
    sub.topic = STANDIN_START + sub.topic.slice(1)
    sub.rh = 2
  }
  if (refused !== null) {
    const gone = new Set(refused.map((r) => r.index))
    packet.subscriptions = subs.filter((_, i) => !gone.has(i))
    // A SUBSCRIBE has a Packet Identifier [MQTT-2.2.1-3]; mqtt-packet refuses one without.
    if (packet.messageId !== undefined) oweSubackCodes(client, packet.messageId, refused)
  }
  return null
}

/** The real filter of a `$share/` filter (Subscription Identifiers, the ACL), or the filter itself. */
export function realFilter (filter: string): string {
  const share = parseShare(filter)
  return share === null || 'problem' in share ? filter : share.filter
}

/** mqemitter's own on/removeListener: in Redis mode a group listens on this node only (shared-cluster.ts routes). */
const localEmitter = (MQEmitter as unknown as { prototype: { on: Function, removeListener: Function } }).prototype

export interface SharedSubscriptions {
  /** Resolves once the other nodes' members are known (at once in memory mode). */
  readonly ready: Promise<void>
  close(): Promise<void>
}

/**
 * Install once, after the hooks and explainSubscribeRefusals (the ACL's
 * refusal of the real filter is explained like any other), before the broker
 * listens; await `ready` before it does.
 */
export function installSharedSubscriptions (broker: Aedes, options: {
  /** The persistence Aedes is given (it takes it over only in listen()). */
  persistence: object
  /** Redis mode: this node's id, a command connection and a subscriber connection of its own. */
  redis: { node: string, commands: Redis, subscriber: Redis } | null
  registry: Registry
  onError: (err: unknown) => void
}): SharedSubscriptions {
  installed.add(broker)
  const b = broker as unknown as {
    id: string
    /** What aedes-packet numbers each message with (per broker id). */
    counter: number
    mq: object
    subscribe(topic: string, func: Deliver, done?: () => void): void
    unsubscribe(topic: string, func: Deliver, done?: () => void): void
    preConnect: Aedes['preConnect']
  }
  const store = options.persistence as SessionStore
  if (typeof b.counter !== 'number') throw new Error('aedes has no message counter; shared subscriptions cannot number their copies')
  const subscribe = b.subscribe.bind(broker)
  const unsubscribe = b.unsubscribe.bind(broker)
  const dropped = new Counter({
    name: 'vigil_shared_dropped_total',
    help: 'Messages for a shared subscription group that no member took: none connected and no offline session could keep them (QoS 0), or the hand-over failed',
    registers: [options.registry]
  })
  const queued = new Counter({
    name: 'vigil_shared_queued_total',
    help: 'Messages for a shared subscription group with no connected member, queued in one offline member\'s session',
    registers: [options.registry]
  })
  const groups = new SharedGroups({
    brokerId: b.id,
    store,
    listen: options.redis === null ? subscribe : (filter, fn, done) => { localEmitter.on.call(b.mq, filter, fn, done) },
    unlisten: options.redis === null ? unsubscribe : (filter, fn, done) => { localEmitter.removeListener.call(b.mq, filter, fn, done) },
    nextCounter: options.redis === null ? null : () => ++b.counter,
    dropped,
    queued,
    onError: options.onError
  })
  const cluster = options.redis === null ? null : shareAcrossNodes({ ...options.redis, sink: groups, onError: options.onError })
  if (cluster !== null) groups.attach(cluster)

  // CONNACK: Shared Subscription Available 1 [MQTT-3.2.2-13].
  const preConnect = b.preConnect.bind(broker)
  b.preConnect = (client, packet, callback) => {
    if (packet.protocolVersion === 5) {
      oweConnackFix(client, (connack) => {
        if (connack.properties?.sharedSubscriptionAvailable === false) connack.properties = { ...connack.properties, sharedSubscriptionAvailable: true }
      })
    }
    preConnect(client, packet, callback)
  }

  const authorize = broker.authorizeSubscribe.bind(broker)
  /** Clients a `$share/` subscription was granted to, until Aedes subscribes it (by full name). */
  const joining = new Map<string, Set<Client>>()
  broker.authorizeSubscribe = (client, sub, callback) => {
    if (!sub.topic.startsWith(STANDIN_PREFIX)) return authorize(client, sub, callback)
    // Its name back on the SUBSCRIBE's own object: that is what the session stores.
    sub.topic = '$' + sub.topic.slice(1)
    const name = sub.topic
    authorize(client, { ...sub, topic: realFilter(name) }, (err, granted) => {
      if (err != null || granted == null) return callback(err, granted)
      let set = joining.get(name)
      if (set === undefined) joining.set(name, set = new Set())
      // A repeated identical SUBSCRIBE is never subscribed again by Aedes: its entry goes once the client closes.
      for (const c of set) if ((c as unknown as { closed: boolean }).closed) set.delete(c)
      set.add(client)
      callback(null, { ...granted, topic: name } as Subscription)
    })
  }

  /** The client whose new subscription `name` has this delivery function (Aedes sets it just before subscribing). */
  function takeJoining (name: string, func: Deliver): Client | undefined {
    const set = joining.get(name)
    if (set === undefined) return undefined
    let found: Client | undefined
    for (const client of set) {
      const held = (client as unknown as { subscriptions: Record<string, { func?: unknown } | undefined> }).subscriptions[name]
      if (held?.func === func) found = client
      if (found === client || (client as unknown as { closed: boolean }).closed) set.delete(client)
    }
    if (set.size === 0) joining.delete(name)
    return found
  }

  /** Client ids whose session a new connection is taking over (aedes.js registerClient). */
  const takingOver = (broker as unknown as { _takingOver: Set<string> })._takingOver
  if (!(takingOver instanceof Set)) throw new Error('aedes has no _takingOver set; shared subscriptions cannot tell a takeover from a disconnect')
  // A connection ending with its session kept: the member stays, offline (UNSUBSCRIBE removes it from the
  // session). Not when a new connection is taking the session over: it restored the subscription (and is
  // the member now) or started clean.
  const keepSession = (client: Client): boolean => {
    const c = client as unknown as { id: string, closed: boolean, clean: boolean }
    return c.closed && !c.clean && !takingOver.has(c.id)
  }

  b.subscribe = (topic, func, done) => {
    if (typeof topic !== 'string' || !topic.startsWith(SHARE_PREFIX)) return subscribe(topic, func, done)
    const client = takeJoining(topic, func)
    if (client === undefined) {
      // Only Aedes' addSubs subscribes a `$share/` name, after authorizeSubscribe above granted it.
      options.onError(new Error(`shared subscription ${topic} subscribed without a granted client`))
      if (done !== undefined) setImmediate(done)
      return
    }
    const held = (client as unknown as { subscriptions: Record<string, { qos?: number } | undefined> }).subscriptions[topic]
    groups.join(topic, client, func, held?.qos ?? 0, done)
  }

  b.unsubscribe = (topic, func, done) => {
    if (typeof topic !== 'string' || !topic.startsWith(SHARE_PREFIX)) return unsubscribe(topic, func, done)
    groups.leave(topic, func, keepSession, done)
  }

  // A restored session's `$share/` subscriptions pass Aedes' refusal as a live SUBSCRIBE's do.
  const byClient = store.subscriptionsByClient.bind(store)
  store.subscriptionsByClient = async (client) => {
    const subs = await byClient(client)
    for (const sub of subs) {
      if (!sub.topic.startsWith(SHARE_PREFIX)) continue
      sub.topic = STANDIN_START + sub.topic.slice(1)
      sub.rh = 2
    }
    return subs
  }
  // A session that ends takes its offline memberships with it.
  const clean = store.cleanSubscriptions.bind(store)
  store.cleanSubscriptions = async (client) => {
    groups.sessionEnded(client.id)
    return await clean(client)
  }
  const remove = store.removeSubscriptions.bind(store)
  store.removeSubscriptions = async (client, topics) => {
    groups.sessionEnded(client.id, topics.filter((topic) => topic.startsWith(SHARE_PREFIX)))
    return await remove(client, topics)
  }

  return {
    ready: cluster === null ? Promise.resolve() : cluster.ready,
    close: async () => { await cluster?.close() }
  }
}
