/**
 * Aedes' retained lookup on SUBSCRIBE, served by Vigil (the one place that
 * patches the persistence's retained calls).
 *
 * [MQTT-4.7.2-1] A subscription whose filter starts with a wildcard must not
 * receive messages on topics that start with '$'. Aedes 1.2 respects that for
 * live messages (mqemitter) but not for the retained messages it sends on
 * SUBSCRIBE: it asks the persistence for every retained message matching the
 * new filters, and the persistence's matcher lets '#' and '+/...' reach
 * `$liveness/...` or `$SYS/...`.
 *
 * Issue 15: the persistences answer that lookup by scanning every retained
 * message (memory: once per filter; Redis: an HSCAN of the whole hash), so one
 * SUBSCRIBE of 1,000 filters against 100,000 retained messages held the event
 * loop for tens of seconds. `serveRetainedLookup` answers it from an index by
 * topic level instead (broker/retained-trie.ts; Redis mode: retained-redis-index.ts),
 * one walk for all filters, its cost growing with what matches, with pauses for
 * the event loop when that is a lot.
 *
 * The fix sits on the persistence's retained lookup, so it costs once per
 * SUBSCRIBE instead of once per delivered message (an authorizeForward check
 * would run on every delivery of every message), and it holds whichever
 * plugins are enabled.
 */
import { Readable } from 'node:stream'
import type { Redis } from 'ioredis'
import { Gauge, type Registry } from 'prom-client'
import { RedisRetainedIndex, type StoredPacket } from './retained-redis-index.js'
import { RetainedTrie } from '../retained-trie.js'
import { topicMatches } from '../topic-match.js'

interface RetainedPacket { topic: string }

interface RetainedLookup {
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<RetainedPacket>
}

/** The retained calls of aedes-persistence's CallBackPersistence that Aedes 1.2 and Vigil make. */
interface RetainedPersistence extends RetainedLookup {
  storeRetained(packet: StoredPacket, cb?: (err: Error | null) => void): Promise<void> | undefined
  createRetainedStream(pattern: string): Readable
}

declare module '../services.js' {
  interface Services {
    /** The retained index: which topics hold a retained message, cluster-wide in Redis mode. */
    retainedIndex: RetainedLookupHandle
  }
}

export interface RetainedLookupOptions {
  /** Redis mode: the shared command connection and a connection of its own for the change channel. */
  redis?: { commands: Redis, subscriber: Redis }
  /** A lookup or index failure: reported, never thrown at Aedes. */
  onError(err: unknown, what: string): void
}

export interface RetainedLookupHandle {
  /** How many retained topics the index holds (Redis mode: as this node knows them). */
  size(): number
  /** How many of them are clients' (not starting with '$'): cluster-wide in Redis mode, for limits.maxRetained. */
  clientTopics(): number
  /** Whether a retained message is stored on `topic` (as far as the index knows). */
  has(topic: string): boolean
  /** Redis mode: whether the index is built and in step (else the persistence's slow lookup answers). */
  ready(): boolean
  close(): void
}

/**
 * vigil_retained_index_topics: the retained topics the lookup index holds
 * (Redis mode: -1 while it is being built or rebuilt, and the slow lookup answers).
 */
export function registerRetainedIndexMetric (registry: Registry, handle: () => RetainedLookupHandle | null): void {
  new Gauge({
    name: 'vigil_retained_index_topics',
    help: 'Retained topics in the SUBSCRIBE lookup index of this node; -1 while it is being (re)built from Redis',
    registers: [registry],
    collect () {
      const index = handle()
      this.set(index === null ? 0 : index.ready() ? index.size() : -1)
    }
  })
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Serve the persistence's retained calls from an index by topic level.
 * Memory mode: the index is the retained store (`storeRetained` writes it,
 * empty payloads delete [MQTT-3.3.1-10]; `createRetainedStream`, the raw
 * enumeration the retained plugin uses, reads it without the '$' rule).
 * Redis mode: see retained-redis-index.ts.
 */
export function serveRetainedLookup (persistence: unknown, options: RetainedLookupOptions): RetainedLookupHandle {
  const target = persistence as RetainedPersistence
  const report = (err: unknown): void => options.onError(err, 'retained lookup for a SUBSCRIBE failed')
  if (options.redis === undefined) {
    const trie = new RetainedTrie<StoredPacket>()
    target.storeRetained = (packet, cb) => {
      // A copy, as the memory persistence keeps: Aedes goes on using the packet.
      if (packet.payload.length === 0) trie.delete(packet.topic)
      else trie.set(packet.topic, Object.assign({}, packet))
      if (cb === undefined) return Promise.resolve()
      process.nextTick(cb, null)
      return undefined
    }
    target.createRetainedStream = (pattern) => Readable.from(fromTrie(trie, [pattern], false), { objectMode: true })
    target.createRetainedStreamCombi = (patterns) => {
      const stream = Readable.from(fromTrie(trie, patterns, true), { objectMode: true })
      stream.on('error', report)
      return stream
    }
    return { size: () => trie.size, clientTopics: () => trie.size - trie.dollarSize, has: (topic) => trie.get(topic) !== undefined,
      ready: () => true, close: () => {} }
  }

  const index = new RedisRetainedIndex(options.redis.commands, options.redis.subscriber, options.onError)
  // Until the index is built (or while it is rebuilt after a reconnect): the
  // persistence's own lookup, with the '$' rule and each topic once.
  hideDollarRetained(target, report)
  const slow = target.createRetainedStreamCombi.bind(target)
  target.storeRetained = (packet, cb) => {
    const done = index.store(packet)
    if (cb === undefined) return done
    done.then(() => cb(null), (err: Error) => cb(err))
    return undefined
  }
  target.createRetainedStreamCombi = (patterns) => {
    if (!index.ready) return slow(patterns)
    const stream = Readable.from(index.lookup(patterns), { objectMode: true })
    stream.on('error', report)
    return stream
  }
  index.start()
  return { size: () => index.size, clientTopics: () => index.clientTopics, has: (topic) => index.has(topic),
    ready: () => index.ready, close: () => index.close() }
}

/** One walk for every filter, each topic once; the event loop runs between slices of a long walk. */
async function * fromTrie (trie: RetainedTrie<StoredPacket>, patterns: readonly string[],
  dollarRule: boolean): AsyncGenerator<StoredPacket> {
  for (const packet of trie.match(patterns, { dollarRule })) {
    if (packet === null) await yieldToLoop()
    else yield packet
  }
}

/**
 * Wrap `persistence.createRetainedStreamCombi` (the call Aedes' SUBSCRIBE
 * handler makes) so that a `$` topic is returned only to a filter that itself
 * starts with '$' and matches it, and each topic once. A failing lookup (Redis gone) ends the stream
 * and is reported instead of surfacing as an unhandled stream 'error'.
 */
export function hideDollarRetained (persistence: unknown, onError: (err: unknown) => void): void {
  const lookup = persistence as RetainedLookup
  const original = lookup.createRetainedStreamCombi.bind(lookup)
  lookup.createRetainedStreamCombi = (patterns: string[]): Readable => {
    const dollarFilters = patterns.filter((pattern) => pattern.charCodeAt(0) === 36)
    const stream = Readable.from(visibleRetained(original(patterns), dollarFilters, patterns.length > 1), { objectMode: true })
    stream.on('error', onError)
    return stream
  }
}

/**
 * Also sends each topic once per SUBSCRIBE: the memory persistence answers
 * every filter separately (a topic matched by two filters of one SUBSCRIBE
 * came twice), the Redis one already deduplicates.
 */
async function * visibleRetained (source: AsyncIterable<RetainedPacket>, dollarFilters: readonly string[],
  several: boolean): AsyncGenerator<RetainedPacket> {
  const sent = several ? new Set<string>() : null
  for await (const packet of source) {
    const topic = packet.topic
    if (topic.charCodeAt(0) === 36 && !dollarFilters.some((filter) => topicMatches(filter, topic))) continue
    if (sent !== null) {
      if (sent.has(topic)) continue
      sent.add(topic)
    }
    yield packet
  }
}
