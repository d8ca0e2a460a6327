/**
 * [MQTT-4.7.2-1] A subscription whose filter starts with a wildcard must not
 * receive messages on topics that start with '$'. Aedes 1.2 respects that for
 * live messages (mqemitter) but not for the retained messages it sends on
 * SUBSCRIBE: it asks the persistence for every retained message matching the
 * new filters, and the persistence's matcher lets '#' and '+/...' reach
 * `$liveness/...` or `$SYS/...`.
 *
 * The fix sits where the bug is, on the persistence's retained lookup, so it
 * costs once per SUBSCRIBE instead of once per delivered message (an
 * authorizeForward check would run on every delivery of every message), and
 * it holds whichever plugins are enabled.
 */
import { Readable } from 'node:stream'
import { topicMatches } from './topic-match.js'

interface RetainedPacket { topic: string }

interface RetainedLookup {
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<RetainedPacket>
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
