/// <reference path="../types/msgpack-lite.d.ts" />
/**
 * Shared subscriptions across the nodes of Redis mode (issue 20, [MQTT-4.8.2]):
 * each message still reaches one member of a group in the whole cluster.
 *
 * The node a message is published on chooses the member (broker/aedes/
 * shared-subscriptions.ts); the others ignore the message for the group. So
 * every node knows every group's members, which node holds each one, and is
 * told here:
 * - each node keeps its own members in a Redis hash (`vigil:share:<node>`,
 *   field `<group>\0<clientId>`, expiring unless the node renews it) and
 *   announces each change on `vigil:share`;
 * - a node reads every other node's hash when it starts (after it subscribed,
 *   so nothing falls between), after its subscriber connection came back, and
 *   every RELOAD_MS (a change lost on the way, a node that died);
 * - a message for a member on another node goes to that node's own channel
 *   (`vigil:share:to:<node>`) with the member it is for. Nobody listening
 *   there (a node that is gone) is reported, and the publishing node chooses
 *   another member.
 * Per message: one Redis PUBLISH when the member is elsewhere, none otherwise.
 */
import type { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'

export const SHARE_CHANNEL = 'vigil:share'
export const shareKey = (node: string): string => `vigil:share:${node}`
export const directChannel = (node: string): string => `vigil:share:to:${node}`
const RELOAD_MS = 5000
const TTL_S = 30

/** A member as the cluster knows it. */
export interface ClusterMember { node: string, clientId: string, qos: number, online: boolean, persistent: boolean }

/** What the cluster tells the node's groups. */
export interface ClusterSink {
  /** Another node's member, added or changed. */
  set(group: string, member: ClusterMember): void
  /** Another node's member is gone. */
  delete(group: string, node: string, clientId: string): void
  /**
   * Every other node's members, read from Redis (replaces what was known of
   * them), except those in `touched` (memberKey): announced while it was
   * read, so the announcement is the newer word.
   */
  replace(members: Map<string, ClusterMember[]>, touched: ReadonlySet<string>): void
  /** This node's own members, to write again (Redis came back, perhaps empty). */
  own(): Array<{ group: string, clientId: string, qos: number, online: boolean, persistent: boolean }>
  /**
   * A message the publishing node chose `clientId` of this node for; `queued`:
   * already in its session; `hops`: how often it was handed on (a node whose
   * member is gone hands it on once more).
   */
  directed(group: string, clientId: string, packet: Record<string, unknown>, queued: boolean, hops: number): void
}

type Announcement = ['+', string, string, string, number, boolean, boolean] | ['-', string, string, string]

export interface SharedCluster {
  readonly node: string
  /** Resolves once subscribed and every other node's members are read. */
  readonly ready: Promise<void>
  /** This node's member joined, changed, or went offline. */
  set(group: string, clientId: string, qos: number, online: boolean, persistent: boolean): void
  /** This node's member is gone. */
  delete(group: string, clientId: string): void
  /** Hand `packet` to `clientId` of `group` on `node`: false when no node listens there. */
  direct(node: string, group: string, clientId: string, packet: object, queued: boolean, hops: number): Promise<boolean>
  close(): Promise<void>
}

const field = (group: string, clientId: string): string => `${group}\u0000${clientId}`
/** A member of another node, as replace() names it. */
export const memberKey = (group: string, node: string, clientId: string): string => `${group}\u0000${node}\u0000${clientId}`

export function shareAcrossNodes (options: { node: string, commands: Redis, subscriber: Redis, sink: ClusterSink, onError: (err: unknown) => void }): SharedCluster {
  const { node, commands, subscriber, sink, onError } = options
  let closed = false
  const own = shareKey(node)

  subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
    try {
      const name = channel.toString()
      if (name === SHARE_CHANNEL) announced(JSON.parse(payload.toString()) as Announcement)
      else if (name === directChannel(node)) {
        const [group, clientId, queued, packet, hops] = msgpack.decode(payload) as [string, string, boolean, Record<string, unknown>, number]
        sink.directed(group, clientId, packet, queued, hops)
      }
    } catch (err) {
      onError(err)
    }
  })

  /** Per reload in flight: the members announced meanwhile (newer than what it reads). */
  const reloading = new Set<Set<string>>()

  function announced (a: Announcement): void {
    if (a[1] === node) return
    for (const touched of reloading) touched.add(memberKey(a[2], a[1], a[3]))
    if (a[0] === '+') sink.set(a[2], { node: a[1], clientId: a[3], qos: a[4], online: a[5], persistent: a[6] })
    else sink.delete(a[2], a[1], a[3])
  }

  async function reload (): Promise<void> {
    const touched = new Set<string>()
    reloading.add(touched)
    try {
      await read(touched)
    } finally {
      reloading.delete(touched)
    }
  }

  async function read (touched: Set<string>): Promise<void> {
    const members = new Map<string, ClusterMember[]>()
    let cursor = '0'
    do {
      const [next, keys] = await commands.scan(cursor, 'MATCH', shareKey('*'), 'COUNT', 500)
      cursor = next
      for (const key of keys) {
        const other = key.slice(shareKey('').length)
        if (other === node || other.startsWith('to:')) continue
        const entries = await commands.hgetall(key)
        for (const [f, value] of Object.entries(entries)) {
          const cut = f.indexOf('\u0000')
          const [qos, online, persistent] = JSON.parse(value) as [number, boolean, boolean]
          const group = f.slice(0, cut)
          let list = members.get(group)
          if (list === undefined) members.set(group, list = [])
          list.push({ node: other, clientId: f.slice(cut + 1), qos, online, persistent })
        }
      }
    } while (cursor !== '0')
    if (!closed) sink.replace(members, touched)
  }

  /** This node's members, all of them, in place of what Redis holds (after Redis came back). */
  async function writeOwn (): Promise<void> {
    const multi = commands.multi().del(own)
    const members = sink.own()
    for (const m of members) multi.hset(own, field(m.group, m.clientId), JSON.stringify([m.qos, m.online, m.persistent]))
    if (members.length > 0) multi.expire(own, TTL_S)
    await multi.exec()
    // The others read it at their next reload.
  }

  const renew = (): void => {
    commands.expire(own, TTL_S)
      // 0: the hash is gone (a Redis that restarted empty) although this node may have members.
      .then(async (kept) => { if (kept === 0 && sink.own().length > 0) await writeOwn() })
      .then(async () => await reload())
      .catch((err: unknown) => { if (!closed) onError(err) })
  }
  let commandsReady = commands.status === 'ready'
  commands.on('ready', () => {
    // Changes made while Redis was away never reached it.
    if (commandsReady && !closed) writeOwn().catch(onError)
    commandsReady = true
  })

  // Subscribing before the connection's ready check (INFO) has answered fails that check, and
  // ioredis then reconnects again and again: no message ever arrived (seen under load).
  const whenReady = async (): Promise<void> => {
    if (subscriber.status !== 'ready') await new Promise<void>((resolve) => subscriber.once('ready', () => resolve()))
  }
  // A restarted node has none of its old members: what its last run wrote is gone.
  const ready = commands.del(own)
    .then(whenReady)
    .then(async () => await subscriber.subscribe(SHARE_CHANNEL, directChannel(node)))
    .then(async () => await reload())
  let subReady = subscriber.status === 'ready'
  subscriber.on('ready', () => {
    if (subReady && !closed) reload().catch(onError)
    subReady = true
  })
  const timer = setInterval(renew, RELOAD_MS)
  timer.unref()

  return {
    node,
    ready,
    set (group, clientId, qos, online, persistent) {
      const a: Announcement = ['+', node, group, clientId, qos, online, persistent]
      commands.multi().hset(own, field(group, clientId), JSON.stringify([qos, online, persistent])).expire(own, TTL_S)
        .publish(SHARE_CHANNEL, JSON.stringify(a)).exec().catch(onError)
    },
    delete (group, clientId) {
      const a: Announcement = ['-', node, group, clientId]
      commands.multi().hdel(own, field(group, clientId)).publish(SHARE_CHANNEL, JSON.stringify(a)).exec().catch(onError)
    },
    async direct (to, group, clientId, packet, queued, hops) {
      const receivers = await commands.publish(directChannel(to), msgpack.encode([group, clientId, queued, packet, hops]))
      return receivers > 0
    },
    async close () {
      closed = true
      clearInterval(timer)
      // Tell the others at once rather than after the TTL.
      try { await commands.del(own) } catch { /* Redis gone: the key expires */ }
    }
  }
}
