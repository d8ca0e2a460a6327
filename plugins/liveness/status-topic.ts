/**
 * Where a client's status lives: `liveness.statusTopic` with `{clientId}` and
 * `{username}` filled in (docs/topics-and-payloads.md). A value that would change the
 * shape of that topic (a level separator, a wildcard, NUL) cannot be
 * represented, so such clients are refused at CONNECT. Pure.
 */
import { topicMatches } from '../../broker/topic-match.js'

/** Topic names may not contain wildcards [MQTT-4.7.3-1] nor NUL [MQTT-1.5.3-2]; '/' would add a level. */
const BREAKS_TOPIC = /[/+#\u0000]/

/** MQTT strings are at most 65535 bytes [MQTT-1.5.3]. */
const MAX_TOPIC_BYTES = 65_535

export class StatusTopic {
  readonly template: string
  /** The filter that matches every status topic (placeholder levels become '+'). */
  readonly filter: string
  readonly #usesUsername: boolean
  /** A '$' prefix that is entirely the broker's (e.g. "$liveness/"), or null. */
  readonly #reservedPrefix: string | null
  /** The prefix without its trailing '/' (e.g. "$liveness"), precomputed: reserved() runs per PUBLISH. */
  readonly #reservedRoot: string | null
  readonly #parser: RegExp

  constructor (template: string) {
    this.template = template
    const levels = template.split('/')
    this.filter = levels.map((level) => level.includes('{') ? '+' : level).join('/')
    this.#usesUsername = template.includes('{username}')
    const firstDynamic = levels.findIndex((level) => level.includes('{'))
    this.#reservedPrefix = template.startsWith('$') && firstDynamic > 0
      ? `${levels.slice(0, firstDynamic).join('/')}/`
      : null
    this.#reservedRoot = this.#reservedPrefix?.slice(0, -1) ?? null
    const escape = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
    const source = template.split(/(\{clientId\}|\{username\})/).map((part) =>
      part === '{clientId}' ? '([^/]+)' : part === '{username}' ? '[^/]*' : escape(part)).join('')
    this.#parser = new RegExp(`^${source}$`, 's')
  }

  /** The clientId a status topic belongs to, or null if `topic` is not one. */
  clientIdOf (topic: string): string | null {
    return this.#parser.exec(topic)?.[1] ?? null
  }

  /** Whether a client with this id (and username) has a representable status topic. */
  representable (clientId: string, username: string | undefined): boolean {
    if (clientId.length === 0 || BREAKS_TOPIC.test(clientId)) return false
    if (this.#usesUsername && username !== undefined && BREAKS_TOPIC.test(username)) return false
    return Buffer.byteLength(this.topicFor(clientId, username)) <= MAX_TOPIC_BYTES
  }

  topicFor (clientId: string, username: string | undefined): string {
    let topic = this.template.replaceAll('{clientId}', clientId)
    if (this.#usesUsername) topic = topic.replaceAll('{username}', username ?? '')
    return topic
  }

  /** The status topic of a clientId where the template needs nothing else (no `{username}`), else undefined. */
  topicOf (clientId: string): string | undefined {
    return this.#usesUsername ? undefined : this.topicFor(clientId, undefined)
  }

  /** Whether a client PUBLISH to `topic` would write into the broker's status space. */
  reserved (topic: string): boolean {
    if (this.#reservedPrefix !== null) {
      // Hot path (every PUBLISH): the prefix starts with '$', so most topics fail on the first character.
      if (topic.charCodeAt(0) !== 36) return false
      return topic.startsWith(this.#reservedPrefix) || topic === this.#reservedRoot
    }
    return topicMatches(this.filter, topic)
  }
}
