/**
 * Which silence threshold and heartbeat topics apply to a client: the first
 * `liveness.rules` entry that matches its clientId glob and/or username, else
 * the section defaults (CONTRACT.md section 3). Pure.
 */

/** [MQTT-4.7.1-2] [MQTT-4.7.2-1]: '#'/'+' match whole levels; a leading wildcard never matches a '$' topic. */
export function topicMatches (filter: string, topic: string): boolean {
  const first = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (first === 35 || first === 43)) return false
  const fl = filter.length
  const tl = topic.length
  let f = 0
  let t = 0
  for (;;) {
    // f and t are at the start of a level in the filter and the topic
    if (filter.charCodeAt(f) === 35) return true
    let fEnd = filter.indexOf('/', f)
    if (fEnd === -1) fEnd = fl
    let tEnd = topic.indexOf('/', t)
    if (tEnd === -1) tEnd = tl
    if (!(fEnd - f === 1 && filter.charCodeAt(f) === 43)) {
      if (fEnd - f !== tEnd - t) return false
      for (let i = 0; i < fEnd - f; i++) if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false
    }
    if (fEnd === fl) return tEnd === tl
    if (tEnd === tl) return fl - fEnd === 2 && filter.charCodeAt(fEnd + 1) === 35 // "a/#" matches "a"
    f = fEnd + 1
    t = tEnd + 1
  }
}

/** A predicate over topics, fast for the default ['#']. */
export type TopicPredicate = (topic: string) => boolean

export function compileTopics (filters: readonly string[]): TopicPredicate {
  if (filters.length === 1 && filters[0] === '#') return (topic) => topic.charCodeAt(0) !== 36
  const list = [...filters]
  return (topic) => {
    for (let i = 0; i < list.length; i++) if (topicMatches(list[i]!, topic)) return true
    return false
  }
}

/** `*` is any run of characters, `?` exactly one; everything else is literal. */
export function globToRegExp (glob: string): RegExp {
  let source = ''
  for (const ch of glob) {
    if (ch === '*') source += '.*'
    else if (ch === '?') source += '.'
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')
  }
  return new RegExp(`^${source}$`, 's')
}

export interface LivenessRuleConfig {
  clients?: string | undefined
  username?: string | undefined
  silentAfter?: number | undefined
  heartbeatTopics?: string[] | undefined
  track: boolean
}

/** What applies to one client. */
export interface ClientPolicy {
  track: boolean
  /** Silence threshold (ms). */
  silentAfter: number
  /** Whether a rule set the threshold (then an announced heartbeat_interval does not change it). */
  ruleThreshold: boolean
  isHeartbeat: TopicPredicate
}

interface CompiledRule {
  clients: RegExp | null
  username: string | null
  policy: ClientPolicy
}

export class LivenessRules {
  readonly #rules: CompiledRule[]
  readonly #fallback: ClientPolicy

  constructor (defaults: { silentAfter: number, heartbeatTopics: readonly string[] }, rules: readonly LivenessRuleConfig[]) {
    const defaultTopics = compileTopics(defaults.heartbeatTopics)
    this.#fallback = { track: true, silentAfter: defaults.silentAfter, ruleThreshold: false, isHeartbeat: defaultTopics }
    this.#rules = rules.map((rule) => ({
      clients: rule.clients !== undefined ? globToRegExp(rule.clients) : null,
      username: rule.username ?? null,
      policy: {
        track: rule.track,
        silentAfter: rule.silentAfter ?? defaults.silentAfter,
        ruleThreshold: rule.silentAfter !== undefined,
        isHeartbeat: rule.heartbeatTopics !== undefined ? compileTopics(rule.heartbeatTopics) : defaultTopics
      }
    }))
  }

  /** First rule whose given conditions (clientId glob, username) all hold; else the defaults. */
  policyFor (clientId: string, username: string | undefined): ClientPolicy {
    for (const rule of this.#rules) {
      if (rule.clients !== null && !rule.clients.test(clientId)) continue
      if (rule.username !== null && rule.username !== username) continue
      return rule.policy
    }
    return this.#fallback
  }
}

const HEARTBEAT_KEY = Buffer.from('"heartbeat_interval"')

/**
 * The heartbeat period (ms) a device announces in a JSON PUBLISH, or null.
 * Only payloads that contain the key are parsed, so ordinary traffic costs one
 * byte search and no JSON parsing.
 */
export function announcedInterval (payload: Buffer | string): number | null {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
  if (bytes.length > 65_536 || bytes.indexOf(HEARTBEAT_KEY) === -1) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes.toString('utf8'))
  } catch {
    return null
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null
  const seconds = (parsed as { heartbeat_interval?: unknown }).heartbeat_interval
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return null
  return Math.round(seconds * 1000)
}
