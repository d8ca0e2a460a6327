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
 *   messages for a shared subscription [MQTT-3.8.4-?, §4.8.2]. One with an
 *   invalid ShareName is kept from Aedes and answered 0x8F with a Reason
 *   String; No Local on one is a Protocol Error [MQTT-3.8.3-4]: DISCONNECT
 *   0x82, as Mosquitto does. In Redis mode every `$share/` filter is refused
 *   with 0x9E (not offered: CONNACK keeps Shared Subscription Available 0),
 *   since a group has to choose one member across every node.
 * - authorizeSubscribe gives the stand-in its name back (before the session
 *   stores it) and asks the hooks (the ACL) about the real filter.
 * - broker.subscribe and broker.unsubscribe of a `$share/` name join and
 *   leave a group: one listener per group on the emitter, on the real filter,
 *   which hands each message to one connected member, in turn, at the QoS that
 *   member was granted. No I/O and nothing growing with the fleet per
 *   message; a member with a persistent session has the message put in its
 *   session first (as Aedes does for any persistent subscriber), so it is
 *   resent if the connection drops before the acknowledgement.
 * A member whose persistent session outlives its connection stays in the
 * group, offline: while no member is connected, a QoS 1/2 message goes to
 * one offline member's session (in turn), and one nobody can take (QoS 0, or
 * no session) is counted in vigil_shared_dropped_total. The group ends with
 * its last member's subscription (UNSUBSCRIBE, or its session's end).
 */
import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes'
import { Counter, type Registry } from 'prom-client'
import { parseShare, RoundRobin, SHARE_PREFIX } from '../shared-groups.js'
import { oweConnackFix, oweSubackCodes, type OwedCode } from './suback-reasons.js'
import { startsWithWildcard } from './topic-syntax.js'

/** The stand-in's first character, in place of '$'. */
const STANDIN_START = '\u0000'
const STANDIN_PREFIX = STANDIN_START + SHARE_PREFIX.slice(1)
const TOPIC_FILTER_INVALID = 0x8f
const SHARED_NOT_SUPPORTED = 0x9e
const PROTOCOL_ERROR = 0x82
const REFUSED_311 = 0x80
const REDIS_REFUSAL = 'shared subscriptions are not available in Redis mode'

type Deliver = (packet: AedesPublishPacket, done: () => void) => void
interface Online { client: Client, func: Deliver, qos: number }
interface Offline { clientId: string, qos: number }

interface Group {
  name: string
  filter: string
  /** [MQTT-4.7.2-1] a filter starting with a wildcard takes no '$' topic. */
  noDollar: boolean
  online: RoundRobin<Online>
  offline: RoundRobin<Offline>
  dispatch: Deliver
}

interface QueueStore {
  outgoingEnqueueCombi(subs: Array<{ clientId: string, topic: string, qos: number }>, packet: AedesPublishPacket): Promise<unknown>
  cleanSubscriptions(client: { id: string }): Promise<unknown>
  subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string, rh?: number }>>
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<unknown>
}

interface State {
  redis: boolean
}

const states = new WeakMap<object, State>()

export interface SharedSubscribeLike {
  messageId?: number
  subscriptions: Array<{ topic: string, qos: number, nl?: boolean, rh?: number }>
}

/**
 * On the parser, before Aedes sees a SUBSCRIBE (strict-packets.ts): what to
 * end the connection for (a Protocol Error), or null. Stands the valid
 * `$share/` filters in and keeps the refused ones from Aedes, owing their
 * codes to the SUBACK.
 */
export function shieldSharedFilters (client: Client, packet: SharedSubscribeLike): { reason: string, reasonCode: number } | null {
  const state = states.get((client as unknown as { broker: object }).broker)
  if (state === undefined) return null
  const subs = packet.subscriptions
  let refused: OwedCode[] | null = null
  for (let i = 0; i < subs.length; i++) {
    const sub = subs[i]!
    const share = parseShare(sub.topic)
    if (share === null) continue
    if ('problem' in share) {
      (refused ??= []).push({ index: i, code: client.version === 5 ? TOPIC_FILTER_INVALID : REFUSED_311, reason: share.problem })
      continue
    }
    if (sub.nl === true) return { reason: `No Local on the shared subscription ${sub.topic} [MQTT-3.8.3-4]`, reasonCode: PROTOCOL_ERROR }
    if (state.redis) {
      (refused ??= []).push({ index: i, code: client.version === 5 ? SHARED_NOT_SUPPORTED : REFUSED_311, reason: REDIS_REFUSAL })
      continue
    }
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

/**
 * Install once, after the hooks and explainSubscribeRefusals (the ACL's
 * refusal of the real filter is explained like any other), before the broker
 * listens.
 */
export function installSharedSubscriptions (broker: Aedes, options: {
  /** The persistence Aedes is given (it takes it over only in listen()). */
  persistence: object
  redis: boolean
  registry: Registry
  onError: (err: unknown) => void
}): void {
  const state: State = { redis: options.redis }
  states.set(broker, state)
  const b = broker as unknown as {
    subscribe(topic: string, func: Deliver, done?: () => void): void
    unsubscribe(topic: string, func: Deliver, done?: () => void): void
    preConnect: Aedes['preConnect']
  }
  const dropped = new Counter({
    name: 'vigil_shared_dropped_total',
    help: 'Messages for a shared subscription group with no connected member and no offline session that could queue them (QoS 0, or no persistent session)',
    registers: [options.registry]
  })
  const queued = new Counter({
    name: 'vigil_shared_queued_total',
    help: 'Messages for a shared subscription group with no connected member, queued in one offline member\'s session',
    registers: [options.registry]
  })

  // CONNACK: Shared Subscription Available 1 [MQTT-3.2.2-13] where they are, Aedes' 0 in Redis mode.
  if (!state.redis) {
    const preConnect = b.preConnect.bind(broker)
    b.preConnect = (client, packet, callback) => {
      if (packet.protocolVersion === 5) {
        oweConnackFix(client, (connack) => {
          if (connack.properties?.sharedSubscriptionAvailable === false) connack.properties = { ...connack.properties, sharedSubscriptionAvailable: true }
        })
      }
      preConnect(client, packet, callback)
    }
  }

  const authorize = broker.authorizeSubscribe.bind(broker)
  /** Clients a `$share/` subscription was granted to, until Aedes subscribes it (by full name). */
  const joining = new Map<string, Set<Client>>()
  broker.authorizeSubscribe = (client, sub, callback) => {
    if (!sub.topic.startsWith(STANDIN_PREFIX)) return authorize(client, sub, callback)
    // Its name back on the SUBSCRIBE's own object: that is what the session stores.
    sub.topic = '$' + sub.topic.slice(1)
    const name = sub.topic
    // A session restored in Redis mode (stored by an older version): not restored.
    if (state.redis) return callback(null, null)
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

  /** Client ids whose session a new connection is taking over (aedes.js registerClient). */
  const takingOver = (broker as unknown as { _takingOver: Set<string> })._takingOver
  if (!(takingOver instanceof Set)) throw new Error('aedes has no _takingOver set; shared subscriptions cannot tell a takeover from a disconnect')
  const groups = new Map<string, Group>()
  const store = options.persistence as QueueStore
  const subscribe = b.subscribe.bind(broker)
  const unsubscribe = b.unsubscribe.bind(broker)

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

  function deliver (group: Group, member: Online, packet: AedesPublishPacket, done: () => void): void {
    // [MQTT-3.8.4-8] at most the QoS granted to this member (Aedes downgrades by the topic, never a `$share/` name).
    const p = packet.qos > member.qos ? { ...packet, qos: member.qos } as AedesPublishPacket : packet
    const client = member.client as unknown as { id: string, clean: boolean }
    if (p.qos === 0 || client.clean) {
      member.func(p, done)
      return
    }
    // In the session first, as enqueueOffline does for every persistent subscriber: Aedes updates it when sending.
    store.outgoingEnqueueCombi([{ clientId: client.id, topic: group.filter, qos: member.qos }], p).then(() => member.func(p, done), (err: unknown) => {
      options.onError(err)
      dropped.inc()
      done()
    })
  }

  function nobodyOnline (group: Group, packet: AedesPublishPacket, done: () => void): void {
    for (let tries = group.offline.size; packet.qos > 0 && tries > 0; tries--) {
      const member = group.offline.next()!
      const qos = Math.min(packet.qos, member.qos)
      if (qos === 0) continue
      const p = qos === packet.qos ? packet : { ...packet, qos } as AedesPublishPacket
      store.outgoingEnqueueCombi([{ clientId: member.clientId, topic: group.filter, qos }], p).then(() => {
        queued.inc()
        done()
      }, (err: unknown) => {
        options.onError(err)
        dropped.inc()
        done()
      })
      return
    }
    dropped.inc()
    done()
  }

  function groupFor (name: string): Group {
    const existing = groups.get(name)
    if (existing !== undefined) return existing
    const filter = realFilter(name)
    const group: Group = {
      name,
      filter,
      noDollar: startsWithWildcard(filter),
      online: new RoundRobin(),
      offline: new RoundRobin(),
      dispatch: (packet, done) => {
        if (group.noDollar && packet.topic.charCodeAt(0) === 36) return done()
        const member = group.online.next()
        if (member === undefined) nobodyOnline(group, packet, done)
        else deliver(group, member, packet, done)
      }
    }
    groups.set(name, group)
    return group
  }

  function endIfEmpty (group: Group, done?: () => void): void {
    if (group.online.size > 0 || group.offline.size > 0 || groups.get(group.name) !== group) {
      if (done !== undefined) setImmediate(done)
      return
    }
    groups.delete(group.name)
    unsubscribe(group.filter, group.dispatch, done)
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
    const fresh = !groups.has(topic)
    const group = groupFor(topic)
    const held = (client as unknown as { subscriptions: Record<string, { qos?: number } | undefined> }).subscriptions[topic]
    group.offline.delete(client.id)
    group.online.set(client.id, { client, func, qos: held?.qos ?? 0 })
    if (fresh) subscribe(group.filter, group.dispatch, done)
    else if (done !== undefined) setImmediate(done)
  }

  b.unsubscribe = (topic, func, done) => {
    if (typeof topic !== 'string' || !topic.startsWith(SHARE_PREFIX)) return unsubscribe(topic, func, done)
    const group = groups.get(topic)
    if (group === undefined) {
      if (done !== undefined) setImmediate(done)
      return
    }
    for (const id of group.online.ids()) {
      const member = group.online.get(id)!
      if (member.func !== func) continue
      group.online.delete(id)
      const c = member.client as unknown as { closed: boolean, clean: boolean }
      // A connection ending with its session kept: the member stays, offline (UNSUBSCRIBE removes it
      // from the session). Not when a new connection is taking the session over: it restored the
      // subscription (and is the member now) or started clean.
      if (c.closed && !c.clean && !takingOver.has(id)) group.offline.set(id, { clientId: id, qos: member.qos })
      break
    }
    endIfEmpty(group, done)
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
    for (const group of groups.values()) if (group.offline.delete(client.id)) endIfEmpty(group)
    return await clean(client)
  }
  const remove = store.removeSubscriptions.bind(store)
  store.removeSubscriptions = async (client, topics) => {
    for (const topic of topics) {
      const group = topic.startsWith(SHARE_PREFIX) ? groups.get(topic) : undefined
      if (group?.offline.delete(client.id) === true) endIfEmpty(group)
    }
    return await remove(client, topics)
  }
}
