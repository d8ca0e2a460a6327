/**
 * Redis mode of the retained index (issue 15). aedes-persistence-redis keeps
 * retained packets in one hash (`retained`, topic -> msgpack packet) and
 * answers a SUBSCRIBE with an HSCAN of it: every SUBSCRIBE walks the whole
 * store. Here each node keeps the topic names in a RetainedTrie and asks Redis
 * only for the payloads of the topics that match (HMGET in batches), so a
 * SUBSCRIBE whose filters match nothing costs no Redis command at all.
 *
 * Why a local trie kept in step, and not a Redis structure looked up by
 * prefix (a sorted set and ZRANGEBYLEX): a prefix range cannot skip the levels
 * a '+' does not care about ('+/status' or 'devices/+/status' would range over
 * every name under the prefix), the trie can; and the trie costs no round trip
 * when nothing matches, the attack shape of issue 15.
 *
 * Cluster-wide correctness: every node writes a retained message with one
 * MULTI of the hash write and a PUBLISH of the change ('+topic' or '-topic') on
 * CHANGES_CHANNEL, so the order in which nodes see the changes is the order in
 * which the hash changed. Every node applies every change. When the
 * subscriber connection (re)connects, changes may have been missed: the node
 * re-subscribes, then rebuilds the trie from an HSCAN of the hash, replaying the
 * changes that arrived during the scan over it (a change seen before the scan
 * read its topic is applied again, after; one seen after is a no-op), and swaps
 * it in. Until the first build, and during a rebuild, lookups use the
 * persistence's own (slow but correct) lookup. A topic a delete left in the trie
 * for a moment costs one HMGET field that comes back empty and is skipped.
 *
 * Nodes running a Vigil without this index write the hash without the PUBLISH;
 * their retained messages reach the other nodes' tries at their next rebuild.
 */
import type { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'
import { RetainedTrie } from '../retained-trie.js'

/** aedes-persistence-redis' hash of retained packets (non-cluster Redis). */
export const RETAINED_HASH = 'retained'
/**
 * Retained changes, '+topic' (stored) or '-topic' (cleared), in the hash's
 * order. The NUL keeps it apart from every MQTT topic [MQTT-4.7.3-2]: the
 * emitter publishes each MQTT topic on the Redis channel of that name.
 */
export const CHANGES_CHANNEL = 'vigil\u0000retained-changes'

/** Payloads fetched per HMGET. */
const FETCH_BATCH = 256
/** Hash fields read per HSCAN while (re)building. */
const SCAN_COUNT = 1000
const RETRY_MS = 1000

export interface StoredPacket { topic: string, payload: Buffer, qos?: number, cmd?: string }

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class RedisRetainedIndex {
  readonly #redis: Redis
  readonly #subscriber: Redis
  readonly #onError: (err: unknown, what: string) => void
  #trie = new RetainedTrie<string>()
  #ready = false
  /** Changes seen while a rebuild scans, replayed over its result. */
  #pending: string[] | null = null
  #generation = 0
  #retry: NodeJS.Timeout | null = null
  #closed = false
  #failures = 0

  constructor (redis: Redis, subscriber: Redis, onError: (err: unknown, what: string) => void) {
    this.#redis = redis
    this.#subscriber = subscriber
    this.#onError = onError
  }

  /** Whether lookups can be served from the trie (built and not known stale). */
  get ready (): boolean { return this.#ready }
  get size (): number { return this.#trie.size }
  /** Retained topics not starting with '$' (clients' topics), cluster-wide. */
  get clientTopics (): number { return this.#trie.size - this.#trie.dollarSize }
  has (topic: string): boolean { return this.#trie.get(topic) !== undefined }

  /** Start following changes; the first build runs once the subscriber is connected. */
  start (): void {
    const sub = this.#subscriber
    sub.on('message', (channel: string, change: string) => {
      if (channel === CHANGES_CHANNEL) this.#apply(change)
    })
    // Changes published while the connection was down are lost to this node: stale until rebuilt.
    sub.on('close', () => { this.#ready = false })
    sub.on('ready', () => this.#resync())
    if (sub.status === 'ready') this.#resync()
  }

  close (): void {
    this.#closed = true
    this.#generation++
    if (this.#retry !== null) clearTimeout(this.#retry)
  }

  /** Store or clear (empty payload [MQTT-3.3.1-10]) a retained packet, and tell every node. */
  async store (packet: StoredPacket): Promise<void> {
    const topic = packet.topic
    if (packet.payload.length === 0) {
      await this.#redis.multi().hdel(RETAINED_HASH, topic).publish(CHANGES_CHANNEL, `-${topic}`).exec().then(failed)
      // The trie learns the delete from the channel, in order: applying it here,
      // after the reply, could undo a store another node made in between.
      return
    }
    await this.#redis.multi().hset(RETAINED_HASH, topic, msgpack.encode(packet))
      .publish(CHANGES_CHANNEL, `+${topic}`).exec().then(failed)
    // At once, so that a SUBSCRIBE on this node right after the PUBACK finds it;
    // should a delete overtake it, the stale name only costs an empty HMGET field.
    this.#trie.set(topic, topic)
  }

  /**
   * The packets of the retained messages matching `filters`, each once,
   * '$' topics only for '$' filters [MQTT-4.7.2-1]. The caller checks `ready`.
   */
  async * lookup (filters: readonly string[]): AsyncGenerator<StoredPacket> {
    const batch: string[] = []
    for (const topic of this.#trie.match(filters, { dollarRule: true })) {
      if (topic === null) {
        await yieldToLoop()
        continue
      }
      batch.push(topic)
      if (batch.length === FETCH_BATCH) {
        yield * this.#fetch(batch)
        batch.length = 0
      }
    }
    if (batch.length > 0) yield * this.#fetch(batch)
  }

  async * #fetch (topics: readonly string[]): AsyncGenerator<StoredPacket> {
    const values = await this.#redis.hmgetBuffer(RETAINED_HASH, ...topics)
    for (const value of values) {
      if (value === null) continue // cleared since the trie saw it
      yield msgpack.decode(value) as StoredPacket
    }
  }

  #apply (change: string): void {
    const op = change.charCodeAt(0)
    if (op !== 43 && op !== 45) return // not one of ours
    const topic = change.slice(1)
    if (change.charCodeAt(0) === 43) this.#trie.set(topic, topic)
    else this.#trie.delete(topic)
    this.#pending?.push(change)
  }

  #resync (): void {
    if (this.#closed) return
    if (this.#retry !== null) {
      clearTimeout(this.#retry)
      this.#retry = null
    }
    this.#rebuild().catch((err: unknown) => {
      if (this.#closed) return
      // One report per streak of failures (Redis gone: it retries every second).
      if (this.#failures++ === 0) this.#onError(err, 'building the retained index from Redis failed (retrying; SUBSCRIBEs use the slow lookup meanwhile)')
      this.#retry = setTimeout(() => this.#resync(), RETRY_MS)
      this.#retry.unref()
    })
  }

  async #rebuild (): Promise<void> {
    const generation = ++this.#generation
    this.#ready = false
    // The reply proves the subscription is in place before the scan starts:
    // every change after this point reaches #apply.
    await this.#subscriber.subscribe(CHANGES_CHANNEL)
    if (generation !== this.#generation) return
    this.#pending = []
    const fresh = new RetainedTrie<string>()
    let cursor = '0'
    do {
      // Values come along (Redis 7.0 has no HSCAN NOVALUES); they are not decoded.
      const [next, flat] = await this.#redis.hscanBuffer(RETAINED_HASH, cursor, 'COUNT', SCAN_COUNT)
      if (generation !== this.#generation) return
      cursor = next.toString()
      for (let i = 0; i < flat.length; i += 2) {
        const topic = flat[i]!.toString()
        fresh.set(topic, topic)
      }
      await yieldToLoop()
    } while (cursor !== '0')
    if (generation !== this.#generation) return
    for (const change of this.#pending) {
      const topic = change.slice(1)
      if (change.charCodeAt(0) === 43) fresh.set(topic, topic)
      else fresh.delete(topic)
    }
    this.#pending = null
    this.#trie = fresh
    this.#failures = 0
    this.#ready = this.#subscriber.status === 'ready'
  }
}

/** MULTI's exec resolves with per-command errors instead of rejecting. */
function failed (results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('retained write: MULTI was discarded')
  for (const [err] of results) if (err !== null) throw err
}
