/// <reference path="../types/msgpack-lite.d.ts" />
/**
 * Redis mode's message router, local first. mqemitter-redis sends every
 * message through Redis, local deliveries too (Redis mode ran at 0.32x the
 * memory broker's QoS 0 fan-in). Here a message is delivered to this node's
 * subscribers at once, in process, and goes to Redis only when another node
 * has a matching subscription, once per such node, on that node's own channel
 * (`vigil:mq:<node>`). So:
 * - a message whose subscribers are all on this node never touches Redis;
 * - a node never receives, so never delivers twice, its own messages;
 * - every message of this node leaves on one Redis connection, so each other
 *   node gets them in publish order.
 *
 * Which node subscribes to what (its routes) is replicated, never scanned per
 * message: each node keeps its filters in a Redis set (`vigil:routes:<node>`,
 * with a version) and announces each change on `vigil:routes` with the next
 * version; the others apply a change whose version follows the one they hold
 * and reload the set whenever one is missing (a message lost while Redis or
 * the connection was away), when a periodic hello says another version, and
 * after their own subscriber connection reconnects (broker/remote-routes.ts
 * keeps and matches the other nodes' routes). A node's routes expire with
 * its hellos (a dead node's sets vanish after ROUTES_TTL_S).
 *
 * Consistency is what Redis pub/sub gives: a SUBSCRIBE is acknowledged once its
 * route is announced, and other nodes see it within a Redis round trip, so a
 * message published elsewhere in that window can miss the new subscriber (as
 * with any replicated routing table). Persistent sessions do not depend on
 * this: Aedes queues a message for an offline session from the persistence.
 *
 * Except the persistence's own messages: every node keeps all sessions'
 * subscriptions in memory (aedes-persistence-redis' trie, which decides whom
 * a message is queued for), and learns each new one from a `$SYS/sub/add` (or
 * `$SYS/sub/rm`) the subscribing node emits. Routed like any message, one
 * emitted before that node had heard of a node that had just started was
 * never sent there: the new node never queued anything for that session, and
 * a persistent subscriber lost every acknowledged message published on that
 * node while it was offline or cut off (test/integration/subscription-broadcast.test.ts).
 * So those go to every node, on one channel all nodes subscribe to before
 * their persistence reads the subscriptions stored in Redis (`subscribed`),
 * and the ones that arrive before the persistence listens for them (it reads
 * first, then subscribes) are kept and handed to it when it does: a
 * subscription is either in what a node read or in a message it gets.
 */
import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import MQEmitter from 'mqemitter'
import msgpack from 'msgpack-lite'
import { ROUTES_CHANNEL, HELLO_MS, RemoteRoutes, routesKey, versionKey, type Announcement } from './remote-routes.js'

export const nodeChannel = (node: string): string => `vigil:mq:${node}`
/** Every node's channel for what all nodes must get whatever their routes: [origin node, message]. */
export const BROADCAST_CHANNEL = 'vigil:mq'
/** The persistence's subscription updates (aedes-persistence's BroadcastPersistence). */
const PERSISTENCE_TOPICS = '$SYS/sub/'
/** Updates kept for the persistence until it listens (it does during start-up; this only bounds a broken one). */
const EARLY_MAX = 100_000
const ROUTES_TTL_S = 30

type Message = MQEmitter.Message
type Listener = (message: Message, done: () => void) => void
type Callback = (error?: Error) => void


export interface LocalFirstOptions {
  nodeId: string
  pubConn: Redis
  subConn: Redis
  concurrency?: number
  matchEmptyLevels?: boolean
}

// mqemitter is a constructor function with prototype methods; its prototype's
// on/emit/removeListener are the local (in-process) delivery used below. Its
// .d.ts declares only the factory, hence these two casts (of mqemitter, not of
// Aedes; the internals this class relies on are pinned in test/unit/aedes-boundary.test.ts).
const Base = MQEmitter as unknown as new (opts: object) => MQEmitter.MQEmitter & { closed: boolean }
const local = (MQEmitter as unknown as { prototype: MQEmitter.MQEmitter }).prototype

/** A callback for `parts` parts of one delivery: `callback` once all are done, with the first error. */
function settleAfter (parts: number, callback?: Callback): (err?: Error | null) => void {
  let pending = parts
  let failure: Error | undefined
  return (err) => {
    if (err !== null && err !== undefined && failure === undefined) failure = err
    if (--pending === 0) callback?.(failure)
  }
}

export class LocalFirstEmitter extends Base {
  /** Errors of the Redis side (as mqemitter-redis' `state`), for the caller to log. */
  readonly state = new EventEmitter()
  readonly pubConn: Redis
  readonly subConn: Redis
  readonly #node: string
  readonly #channel: string
  /** This node's filters and how many local listeners each has. */
  readonly #filters = new Map<string, number>()
  #version = 0
  /** Every other node's filters. */
  readonly #others: RemoteRoutes
  readonly #timer: NodeJS.Timeout
  #closing = false
  /**
   * Resolves once this node's channels are subscribed and its publishing connection is up (or
   * the attempt failed, reported on `state`): a subscription update sent before that would be
   * refused (`#broadcast` fails fast while the publisher is down, rather than queue it).
   */
  readonly subscribed: Promise<void>
  /** Subscription updates from other nodes received before the persistence listened; null once it does. */
  #early: Message[] | null = []

  constructor (options: LocalFirstOptions) {
    const matchEmptyLevels = options.matchEmptyLevels ?? true
    super({ concurrency: options.concurrency ?? 100, matchEmptyLevels })
    this.#node = options.nodeId
    this.#channel = nodeChannel(options.nodeId)
    this.pubConn = options.pubConn
    this.subConn = options.subConn
    const fail = (err: unknown): void => { if (!this.#closing) this.state.emit('error', err) }
    this.#fail = fail
    this.#others = new RemoteRoutes(this.#node, this.pubConn, matchEmptyLevels, fail)

    this.subConn.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
      try {
        const name = channel.toString()
        if (name === this.#channel) this.#deliver(payload)
        else if (name === BROADCAST_CHANNEL) this.#broadcastReceived(payload)
        else if (name === ROUTES_CHANNEL) this.#others.announced(JSON.parse(payload.toString()) as Announcement)
      } catch (err) {
        fail(err)
      }
    })
    const publisherUp = this.pubConn.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => this.pubConn.once('ready', () => resolve()))
    this.subscribed = Promise.all([this.subConn.subscribe(ROUTES_CHANNEL, this.#channel, BROADCAST_CHANNEL), publisherUp]).then(() => {}, fail)
    // After a reconnect ioredis re-subscribes; what was announced meanwhile is lost: resync both ways.
    let subReady = this.subConn.status === 'ready'
    this.subConn.on('ready', () => {
      if (subReady) this.#resync()
      subReady = true
    })
    let pubReady = this.pubConn.status === 'ready'
    this.pubConn.on('ready', () => {
      if (pubReady) this.#writeOwn()
      pubReady = true
    })
    this.#resync()
    this.#timer = setInterval(() => this.#hello(), HELLO_MS)
    this.#timer.unref()
  }

  readonly #fail: (err: unknown) => void

  override on (topic: string, notify: Listener, done?: () => void): this {
    local.on.call(this, topic, notify)
    if (this.#early !== null && topic.startsWith(PERSISTENCE_TOPICS)) {
      const early = this.#early
      this.#early = null
      for (const message of early) local.emit.call(this, message)
    }
    const count = (this.#filters.get(topic) ?? 0) + 1
    this.#filters.set(topic, count)
    if (count > 1) {
      if (done !== undefined) setImmediate(done)
      return this
    }
    // The SUBSCRIBE is acknowledged once the other nodes have been told.
    this.#announce('+', topic).then(() => done?.(), (err: unknown) => { this.#fail(err); done?.() })
    return this
  }

  override removeListener (topic: string, notify: Listener, done?: () => void): this {
    local.removeListener.call(this, topic, notify, done)
    const current = this.#filters.get(topic)
    // A listener this node never added (a repeated unsubscribe) must not take the route of others.
    if (current === undefined) return this
    const count = current - 1
    if (count > 0) {
      this.#filters.set(topic, count)
      return this
    }
    this.#filters.delete(topic)
    this.#announce('-', topic).catch(this.#fail)
    return this
  }

  /**
   * Local subscribers first, in process; then each other node with a matching
   * route, through Redis. `callback` reports both: an error means the message
   * may not have reached another node (a QoS 1 PUBLISH is then not acknowledged).
   */
  override emit (message: Message, callback?: Callback): void {
    if (this.closed) {
      callback?.(new Error('the emitter is closed'))
      return
    }
    if (message.topic.startsWith(PERSISTENCE_TOPICS)) {
      this.#broadcast(message, callback)
      return
    }
    const nodes = this.#others.match(message.topic)
    if (nodes.size === 0) {
      local.emit.call(this, message, callback)
      return
    }
    const settle = settleAfter(nodes.size + 1, callback)
    local.emit.call(this, message, settle)
    // Redis unreachable: fail the remote part at once rather than after ioredis' retries, so the
    // publisher's next packet is not held up (a QoS 1 PUBLISH is then not acknowledged).
    if (this.pubConn.status !== 'ready') {
      const err = new Error(`redis unavailable: not routed to ${nodes.size} other node(s)`)
      for (let i = 0; i < nodes.size; i++) settle(err)
      return
    }
    const encoded = msgpack.encode(message)
    for (const node of nodes) {
      this.pubConn.publish(nodeChannel(node), encoded).then(() => settle(), (err: Error) => settle(err))
    }
  }

  override close (callback: () => void): void {
    if (this.#closing) {
      callback()
      return
    }
    this.#closing = true
    clearInterval(this.#timer)
    // Tell the others at once (rather than after the TTL) that this node's routes are gone.
    const gone = async (): Promise<void> => {
      await this.pubConn.multi().del(routesKey(this.#node), versionKey(this.#node))
        .publish(ROUTES_CHANNEL, JSON.stringify(['!', this.#node, -1] satisfies Announcement)).exec()
    }
    const quit = async (conn: Redis): Promise<void> => {
      if (conn.status === 'end') return
      try { await conn.quit() } catch { conn.disconnect() }
    }
    const bounded = <T>(promise: Promise<T>): Promise<unknown> =>
      Promise.race([promise, new Promise((resolve) => setTimeout(resolve, 500).unref())]).catch(() => {})
    void bounded(gone()).then(() => Promise.all([bounded(quit(this.subConn)), bounded(quit(this.pubConn))]))
      .then(() => local.close.call(this, callback))
  }

  /** The other nodes a message on `topic` goes to now (diagnostics and tests). */
  routedNodes (topic: string): string[] {
    return [...this.#others.match(topic)].sort()
  }

  /** How many other nodes have routes, and how many filters in all (for tests and metrics). */
  routeCounts (): { nodes: number, filters: number } {
    return this.#others.counts()
  }

  // ---- this node's routes ---------------------------------------------------

  async #announce (kind: '+' | '-', filter: string): Promise<void> {
    const version = ++this.#version
    const multi = this.pubConn.multi()
    if (kind === '+') multi.sadd(routesKey(this.#node), filter)
    else multi.srem(routesKey(this.#node), filter)
    await multi.set(versionKey(this.#node), version)
      .expire(routesKey(this.#node), ROUTES_TTL_S).expire(versionKey(this.#node), ROUTES_TTL_S)
      .publish(ROUTES_CHANNEL, JSON.stringify([kind, this.#node, version, filter] satisfies Announcement)).exec()
  }

  /** Write this node's whole route set (start-up, or after its connection came back). */
  #writeOwn (): void {
    const version = ++this.#version
    const multi = this.pubConn.multi().del(routesKey(this.#node))
    const filters = [...this.#filters.keys()]
    if (filters.length > 0) multi.sadd(routesKey(this.#node), ...filters)
    multi.set(versionKey(this.#node), version)
      .expire(routesKey(this.#node), ROUTES_TTL_S).expire(versionKey(this.#node), ROUTES_TTL_S)
      .publish(ROUTES_CHANNEL, JSON.stringify(['~', this.#node, version] satisfies Announcement))
      .exec().catch(this.#fail)
  }

  #hello (): void {
    this.#others.forgetSilent(Date.now())
    this.pubConn.multi().expire(routesKey(this.#node), ROUTES_TTL_S).expire(versionKey(this.#node), ROUTES_TTL_S)
      .publish(ROUTES_CHANNEL, JSON.stringify(['~', this.#node, this.#version] satisfies Announcement))
      .exec().catch(this.#fail)
  }

  /** Write this node's routes and read every other node's (broker/remote-routes.ts). */
  #resync (): void {
    this.#writeOwn()
    this.#others.scan().catch(this.#fail)
  }

  // ---- subscription updates and routed messages ------------------------------

  /** Here at once, and to every other node through BROADCAST_CHANNEL, whatever the routes say. */
  #broadcast (message: Message, callback?: Callback): void {
    const settle = settleAfter(2, callback)
    local.emit.call(this, message, settle)
    if (this.pubConn.status !== 'ready') {
      settle(new Error('redis unavailable: a subscription update not sent to the other nodes'))
      return
    }
    this.pubConn.publish(BROADCAST_CHANNEL, msgpack.encode([this.#node, message])).then(() => settle(), (err: Error) => settle(err))
  }

  #broadcastReceived (payload: Buffer): void {
    const [origin, message] = msgpack.decode(payload) as [string, Message]
    // Its own: already delivered here when it was emitted.
    if (origin === this.#node) return
    if (this.#early === null) local.emit.call(this, message)
    else if (this.#early.length < EARLY_MAX) this.#early.push(message)
  }

  /** A message another node routed here: deliver it to this node's subscribers. */
  #deliver (payload: Buffer): void {
    const message = msgpack.decode(payload) as Message
    local.emit.call(this, message)
  }
}
