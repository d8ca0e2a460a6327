/**
 * Mosquitto's ACL file syntax, read as Mosquitto reads it (issue 14):
 *   # comment
 *   topic [read|write|readwrite|deny] <topic>    rules for anonymous clients until the first `user`
 *   user <username>                              the `topic` lines after it belong to that user
 *   pattern [read|write|readwrite|deny] <topic>  rules for every client, %c = clientId, %u = username
 * An access word left out means readwrite. Pure: text in, rules out.
 */

export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule { readonly access: Access, readonly topic: string }

export interface AclFile {
  /** `topic` lines before the first `user` line. */
  readonly anonymous: readonly AclRule[]
  /** `topic` lines under each `user` line (a user named twice gets both blocks). */
  readonly users: ReadonlyMap<string, readonly AclRule[]>
  /** `pattern` lines, wherever they stand. */
  readonly patterns: readonly AclRule[]
}

export class AclSyntaxError extends Error {
  readonly line: number
  constructor (line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny'])

/** [MQTT-4.7.1-2] '#' last and alone in its level, [MQTT-4.7.1-3] '+' alone in its level. */
function validFilter (filter: string): boolean {
  const levels = filter.split('/')
  return levels.every((level, i) =>
    (level === '#' ? i === levels.length - 1 : !level.includes('#')) && (level === '+' || !level.includes('+')))
}

function rule (keyword: string, rest: string, lineNo: number): AclRule {
  const match = /^(\S+)(?:\s+(.*))?$/.exec(rest)
  if (match === null) throw new AclSyntaxError(lineNo, `${keyword} needs a topic`)
  let access: Access = 'readwrite'
  let topic = rest
  if (ACCESS.has(match[1]!) && match[2] !== undefined) {
    access = match[1] as Access
    topic = match[2]
  }
  topic = topic.trim()
  if (topic === '' || !validFilter(topic)) throw new AclSyntaxError(lineNo, `${keyword}: "${topic}" is not a topic filter`)
  return { access, topic }
}

export function parseAclFile (text: string): AclFile {
  const anonymous: AclRule[] = []
  const users = new Map<string, AclRule[]>()
  const patterns: AclRule[] = []
  let current: AclRule[] = anonymous
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/^\s+/, '').replace(/\s+$/, '')
    if (line === '' || line.startsWith('#')) continue
    const space = line.search(/\s/)
    const keyword = space === -1 ? line : line.slice(0, space)
    const rest = space === -1 ? '' : line.slice(space + 1).trim()
    if (keyword === 'user') {
      if (rest === '') throw new AclSyntaxError(i + 1, 'user needs a name')
      current = users.get(rest) ?? []
      users.set(rest, current)
    } else if (keyword === 'topic') {
      current.push(rule(keyword, rest, i + 1))
    } else if (keyword === 'pattern') {
      patterns.push(rule(keyword, rest, i + 1))
    } else {
      throw new AclSyntaxError(i + 1, `unknown keyword "${keyword}" (expected user, topic or pattern)`)
    }
  }
  return { anonymous, users, patterns }
}
