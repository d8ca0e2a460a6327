/**
 * The groups of shared subscriptions and how a message reaches one member
 * (shared-subscriptions.ts installs it; [MQTT-4.8.2]). Each group is one
 * listener on the emitter, on its real filter; a message takes the next
 * connected member in turn (RoundRobin: an array and an index), at that
 * member's granted QoS. In Redis mode the members of other nodes are in the
 * turn too (broker/shared-cluster.ts): only the node a message was published
 * on chooses, and sends it to the chosen member's node.
 */
import type { AedesPublishPacket, Client } from 'aedes'
import type { Counter } from 'prom-client'
import { RoundRobin } from '../shared-groups.js'
import { memberKey, type ClusterMember, type ClusterSink, type SharedCluster } from '../shared-cluster.js'
import { startsWithWildcard } from './topic-syntax.js'

export type Deliver = (packet: AedesPublishPacket, done: () => void) => void
type Member = { client: Client, func: Deliver, qos: number, node: null } | { node: string, clientId: string, qos: number, persistent: boolean }
interface Offline { clientId: string, qos: number, node: string | null }

interface Group {
  name: string
  filter: string
  /** [MQTT-4.7.2-1] a filter starting with a wildcard takes no '$' topic. */
  noDollar: boolean
  online: RoundRobin<Member>
  offline: RoundRobin<Offline>
  /** Redis mode: clients connected here that another node says it now holds (a takeover there): theirs once this connection leaves. */
  movedAway: Map<string, Member & { node: string }>
  dispatch: Deliver
}

export interface QueueStore {
  outgoingEnqueueCombi(subs: Array<{ clientId: string, topic: string, qos: number }>, packet: AedesPublishPacket): Promise<unknown>
}

export interface SharedGroupsOptions {
  brokerId: string
  store: QueueStore
  /** Puts a group's listener on the emitter (and takes it off); in Redis mode on this node only. */
  listen(filter: string, fn: Deliver, done?: () => void): void
  unlisten(filter: string, fn: Deliver, done?: () => void): void
  /**
   * Redis mode: a fresh broker counter for each copy put in a session. The
   * Redis persistence stores a message once, by broker id and counter, with
   * the number of sessions holding it, and each enqueue of the same message
   * sets that number anew: a member's enqueue after enqueueOffline's left the
   * other sessions' count at 1, and the member's PUBACK deleted their copy.
   */
  nextCounter: (() => number) | null
  dropped: Counter
  queued: Counter
  onError(err: unknown): void
}

const noop = (): void => {}
const fields = (client: Client): { id: string, clean: boolean, closed: boolean } => client as unknown as { id: string, clean: boolean, closed: boolean }

export class SharedGroups implements ClusterSink {
  readonly #groups = new Map<string, Group>()
  readonly #o: SharedGroupsOptions
  #cluster: SharedCluster | null = null

  constructor (options: SharedGroupsOptions) { this.#o = options }

  /** Redis mode: the other nodes' members, and where this node's go. */
  attach (cluster: SharedCluster): void { this.#cluster = cluster }

  // ---- this node's members ---------------------------------------------------

  join (name: string, client: Client, func: Deliver, qos: number, done?: () => void): void {
    const group = this.#groupFor(name, done)
    const id = fields(client).id
    group.offline.delete(id)
    group.movedAway.delete(id)
    group.online.set(id, { client, func, qos, node: null })
    this.#cluster?.set(name, id, qos, true, !fields(client).clean)
  }

  /** The subscription with delivery function `func` is gone; `keepSession`: its session keeps it (offline member). */
  leave (name: string, func: Deliver, keepSession: (client: Client) => boolean, done?: () => void): void {
    const group = this.#groups.get(name)
    if (group === undefined) {
      if (done !== undefined) setImmediate(done)
      return
    }
    for (const id of group.online.ids()) {
      const member = group.online.get(id)!
      if (member.node !== null || member.func !== func) continue
      group.online.delete(id)
      const moved = group.movedAway.get(id)
      if (moved !== undefined) {
        // Taken over on another node: that connection is the member; this node keeps no entry.
        group.movedAway.delete(id)
        group.online.set(id, moved)
        this.#cluster?.delete(name, id)
      } else if (keepSession(member.client)) {
        group.offline.set(id, { clientId: id, qos: member.qos, node: null })
        this.#cluster?.set(name, id, member.qos, false, true)
      } else {
        this.#cluster?.delete(name, id)
      }
      break
    }
    this.#endIfEmpty(group, done)
  }

  /** The session of `clientId` ended (or left these groups): no longer an offline member. */
  sessionEnded (clientId: string, names?: Iterable<string>): void {
    for (const name of names ?? [...this.#groups.keys()]) {
      const group = this.#groups.get(name)
      const member = group?.offline.get(clientId)
      if (group === undefined || member === undefined || member.node !== null) continue
      group.offline.delete(clientId)
      this.#cluster?.delete(name, clientId)
      this.#endIfEmpty(group)
    }
  }

  // ---- the other nodes' members (ClusterSink) ---------------------------------

  own (): Array<{ group: string, clientId: string, qos: number, online: boolean, persistent: boolean }> {
    const out: Array<{ group: string, clientId: string, qos: number, online: boolean, persistent: boolean }> = []
    for (const group of this.#groups.values()) {
      for (const id of group.online.ids()) {
        const m = group.online.get(id)!
        if (m.node === null) out.push({ group: group.name, clientId: id, qos: m.qos, online: true, persistent: !fields(m.client).clean })
      }
      for (const id of group.offline.ids()) {
        const m = group.offline.get(id)!
        if (m.node === null) out.push({ group: group.name, clientId: id, qos: m.qos, online: false, persistent: true })
      }
    }
    return out
  }

  set (name: string, m: ClusterMember): void {
    const group = this.#groupFor(name)
    const here = group.online.get(m.clientId)
    // This node's connection of that client is the member until it leaves (a takeover elsewhere ends it).
    if (here !== undefined && here.node === null) {
      if (m.online) group.movedAway.set(m.clientId, { node: m.node, clientId: m.clientId, qos: m.qos, persistent: m.persistent })
      return
    }
    if (m.online) {
      // The session is back on another node: this node's offline entry for it is no longer the member.
      if (group.offline.get(m.clientId)?.node === null) this.#cluster?.delete(name, m.clientId)
      group.offline.delete(m.clientId)
      group.online.set(m.clientId, { node: m.node, clientId: m.clientId, qos: m.qos, persistent: m.persistent })
    } else if (here === undefined || here.node === m.node) {
      // Offline where it was connected; not while it is connected on another node (a takeover there).
      if (here !== undefined) group.online.delete(m.clientId)
      group.offline.set(m.clientId, { clientId: m.clientId, qos: m.qos, node: m.node })
    }
  }

  delete (name: string, node: string, clientId: string): void {
    const group = this.#groups.get(name)
    if (group === undefined) return
    if (group.online.get(clientId)?.node === node) group.online.delete(clientId)
    if (group.offline.get(clientId)?.node === node) group.offline.delete(clientId)
    if (group.movedAway.get(clientId)?.node === node) group.movedAway.delete(clientId)
    this.#endIfEmpty(group)
  }

  replace (members: Map<string, ClusterMember[]>, touched: ReadonlySet<string>): void {
    const snapshot = new Set<string>()
    for (const [name, list] of members) for (const m of list) snapshot.add(`${memberKey(name, m.node, m.clientId)}\u0000${String(m.online)}`)
    const read = (name: string, node: string, id: string, online: boolean): boolean =>
      touched.has(memberKey(name, node, id)) || snapshot.has(`${memberKey(name, node, id)}\u0000${String(online)}`)
    for (const group of [...this.#groups.values()]) {
      for (const id of [...group.online.ids()]) {
        const m = group.online.get(id)!
        if (m.node !== null && !read(group.name, m.node, id, true)) group.online.delete(id)
      }
      for (const id of [...group.offline.ids()]) {
        const m = group.offline.get(id)!
        if (m.node !== null && !read(group.name, m.node, id, false)) group.offline.delete(id)
      }
      this.#endIfEmpty(group)
    }
    for (const [name, list] of members) {
      for (const m of list) if (!touched.has(memberKey(name, m.node, m.clientId))) this.set(name, m)
    }
  }

  directed (name: string, clientId: string, packet: Record<string, unknown>, queued: boolean, hops: number): void {
    const group = this.#groups.get(name)
    const p = packet as unknown as AedesPublishPacket
    const member = group?.online.get(clientId)
    if (group !== undefined && member !== undefined && member.node === null) {
      this.#deliverLocal(group, member, p, queued, noop)
      return
    }
    // Gone meanwhile: one already in its session waits there; otherwise the next member, once more
    // anywhere (the publishing node had not heard yet), then only here.
    if (queued) return
    if (group === undefined) {
      this.#o.dropped.inc()
      return
    }
    if (hops === 0) return this.#choose(group, p, group.online.size, noop, 1)
    for (let tries = group.online.size; tries > 0; tries--) {
      const next = group.online.next()!
      if (next.node === null) {
        this.#deliverLocal(group, next, p, false, noop)
        return
      }
    }
    this.#nobodyOnline(group, p, noop)
  }

  // ---- delivery ----------------------------------------------------------------

  #groupFor (name: string, done?: () => void): Group {
    const existing = this.#groups.get(name)
    if (existing !== undefined) {
      if (done !== undefined) setImmediate(done)
      return existing
    }
    const filter = name.slice(name.indexOf('/', '$share/'.length) + 1)
    const group: Group = {
      name,
      filter,
      noDollar: startsWithWildcard(filter),
      online: new RoundRobin(),
      offline: new RoundRobin(),
      movedAway: new Map(),
      dispatch: (packet, cb) => this.#dispatch(group, packet, cb)
    }
    this.#groups.set(name, group)
    this.#o.listen(filter, group.dispatch, done)
    return group
  }

  #endIfEmpty (group: Group, done?: () => void): void {
    if (group.online.size > 0 || group.offline.size > 0 || this.#groups.get(group.name) !== group) {
      if (done !== undefined) setImmediate(done)
      return
    }
    this.#groups.delete(group.name)
    this.#o.unlisten(group.filter, group.dispatch, done)
  }

  #dispatch (group: Group, packet: AedesPublishPacket, done: () => void): void {
    if (group.noDollar && packet.topic.charCodeAt(0) === 36) return done()
    // Redis mode: the node the message was published on chooses; here it is only passing through.
    if (this.#cluster !== null && packet.brokerId !== this.#o.brokerId) return done()
    this.#choose(group, packet, group.online.size, done)
  }

  #choose (group: Group, packet: AedesPublishPacket, tries: number, done: () => void, hops = 0): void {
    const member = tries > 0 ? group.online.next() : undefined
    if (member === undefined) return this.#nobodyOnline(group, packet, done)
    if (member.node === null) return this.#deliverLocal(group, member, packet, false, done)
    // [MQTT-3.8.4-8] at most the QoS granted to this member.
    const p = packet.qos > member.qos ? { ...packet, qos: member.qos } as AedesPublishPacket : packet
    const send = (copy: AedesPublishPacket, queued: boolean): void => {
      this.#cluster!.direct(member.node, group.name, member.clientId, copy, queued, hops).then((taken) => {
        if (taken) return done()
        // No node listens there: it is gone. Its members go, and another one is chosen.
        group.online.delete(member.clientId)
        if (queued) return done()
        this.#choose(group, packet, tries - 1, done, hops)
      }, (err: unknown) => this.#failed(err, done))
    }
    if (p.qos > 0 && member.persistent) {
      // In its session first (the persistence is Redis, shared by the nodes): kept even if the hand-over is lost.
      const own = this.#own(p)
      this.#o.store.outgoingEnqueueCombi([{ clientId: member.clientId, topic: group.filter, qos: own.qos }], own).then(() => send(own, true), (err: unknown) => this.#failed(err, done))
    } else {
      send(p, false)
    }
  }

  #deliverLocal (group: Group, member: Member & { node: null }, packet: AedesPublishPacket, queued: boolean, done: () => void): void {
    // [MQTT-3.8.4-8] at most the QoS granted to this member (Aedes downgrades by the topic, never a `$share/` name).
    const p = packet.qos > member.qos ? { ...packet, qos: member.qos } as AedesPublishPacket : packet
    const client = fields(member.client)
    if (queued || p.qos === 0 || client.clean) {
      member.func(p, done)
      return
    }
    // In the session first, as enqueueOffline does for every persistent subscriber: Aedes updates it when sending.
    const own = this.#own(p)
    this.#o.store.outgoingEnqueueCombi([{ clientId: client.id, topic: group.filter, qos: own.qos }], own)
      .then(() => member.func(own, done), (err: unknown) => this.#failed(err, done))
  }

  /** No member connected: a QoS 1/2 message waits in one offline member's session (in turn); else it is dropped, counted. */
  #nobodyOnline (group: Group, packet: AedesPublishPacket, done: () => void): void {
    for (let tries = group.offline.size; packet.qos > 0 && tries > 0; tries--) {
      const member = group.offline.next()!
      const qos = Math.min(packet.qos, member.qos)
      if (qos === 0) continue
      const p = this.#own(qos === packet.qos ? packet : { ...packet, qos } as AedesPublishPacket)
      this.#o.store.outgoingEnqueueCombi([{ clientId: member.clientId, topic: group.filter, qos }], p).then(() => {
        this.#o.queued.inc()
        done()
      }, (err: unknown) => this.#failed(err, done))
      return
    }
    this.#o.dropped.inc()
    done()
  }

  /** The copy a session keeps (see nextCounter). */
  #own (p: AedesPublishPacket): AedesPublishPacket {
    const next = this.#o.nextCounter
    return next === null ? p : { ...p, brokerCounter: next() } as AedesPublishPacket
  }

  #failed (err: unknown, done: () => void): void {
    this.#o.onError(err)
    this.#o.dropped.inc()
    done()
  }
}
