/**
 * Command topic templates (`commands.topic`, `commands.ackTopic`): filling them
 * in, the one wildcard filter that hears every device's acks, and recognising
 * an ack topic to learn whose it is. Pure: no Aedes, no clock.
 */

export interface Identity { clientId: string, username?: string | undefined }

const PLACEHOLDER = /\{(clientId|username)\}/g
const HAS_PLACEHOLDER = /\{(clientId|username)\}/

/** Whether a template needs the device's username. */
export function needsUsername (template: string): boolean {
  return template.includes('{username}')
}

export function fillTemplate (template: string, who: Identity): string {
  return template.replace(PLACEHOLDER, (_m, key: string) => key === 'clientId' ? who.clientId : (who.username ?? ''))
}

/**
 * A clientId can address a topic only if it has no level separator or wildcard
 * [MQTT-4.7.1-1]; the API refuses commands to other ids.
 */
export function isAddressable (clientId: string): boolean {
  return clientId.length > 0 && !/[/+#\u0000]/.test(clientId)
}

const escapeRe = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export interface TopicPattern {
  /** An MQTT filter matching every filled-in topic: placeholder levels become '+'. */
  readonly filter: string
  /** Who a topic belongs to, or null when it is not an instance of the template. */
  match(topic: string): Identity | null
  /** A cheap first test for hot paths (literal prefix and suffix); true does not mean a match. */
  mayMatch(topic: string): boolean
}

export function topicPattern (template: string): TopicPattern {
  const filter = template.split('/').map((level) => HAS_PLACEHOLDER.test(level) ? '+' : level).join('/')
  const keys: string[] = []
  let source = '^'
  let last = 0
  for (const m of template.matchAll(PLACEHOLDER)) {
    source += escapeRe(template.slice(last, m.index)) + '([^/]+)'
    keys.push(m[1]!)
    last = m.index + m[0].length
  }
  source += escapeRe(template.slice(last)) + '$'
  const re = new RegExp(source)
  const first = template.search(HAS_PLACEHOLDER)
  const prefix = template.slice(0, first)
  const suffix = template.slice(last)
  return {
    filter,
    mayMatch: (topic) => topic.startsWith(prefix) && topic.endsWith(suffix),
    match (topic) {
      const m = re.exec(topic)
      if (m === null) return null
      let clientId: string | undefined
      let username: string | undefined
      for (let i = 0; i < keys.length; i++) {
        const value = m[i + 1]!
        const key = keys[i] === 'clientId' ? 'clientId' : 'username'
        const seen = key === 'clientId' ? clientId : username
        // The same placeholder twice must hold the same value.
        if (seen !== undefined && seen !== value) return null
        if (key === 'clientId') clientId = value
        else username = value
      }
      return clientId === undefined ? null : { clientId, username }
    }
  }
}
