/**
 * ACL decisions with Mosquitto's semantics: deny rules win, then any matching
 * grant of the right kind allows, else denied. A client's rules are compiled
 * once at CONNECT (its user's block or the anonymous block, plus every
 * `pattern` with %c/%u filled in), so the per-PUBLISH check walks pre-split
 * levels with `startsWith(level, offset)`: no allocation on the hot path.
 * Broker-owned rules hold whatever the file says: the status space is always
 * readable and the client's own command-ack topic always writable.
 * Pure: no broker, no clock.
 */
import type { AclFile, AclRule } from './acl-file.js'

const READ = 1
const WRITE = 2

interface Compiled { readonly levels: readonly string[] }

function compile (topic: string): Compiled {
  return { levels: topic.split('/') }
}

const isWild = (level: string | undefined): boolean => level === '+' || level === '#'

/** Whether topic name `topic` matches filter `levels` [MQTT-4.7]; '$' topics never match a leading wildcard [MQTT-4.7.2-1]. */
export function matchesLevels (levels: readonly string[], topic: string): boolean {
  if (topic.charCodeAt(0) === 36 && isWild(levels[0])) return false
  const length = topic.length
  let pos = 0
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level === '#') return true
    if (pos > length) return false
    let end = topic.indexOf('/', pos)
    if (end === -1) end = length
    if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false
    pos = end + 1
  }
  return pos === length + 1
}

const dollarMismatch = (a: readonly string[], b: readonly string[]): boolean =>
  (isWild(a[0]) && b[0]!.startsWith('$')) || (isWild(b[0]) && a[0]!.startsWith('$'))

/** Whether some topic matches both filters. */
export function intersects (a: readonly string[], b: readonly string[]): boolean {
  if (dollarMismatch(a, b)) return false
  for (let i = 0; ; i++) {
    const x = a[i]
    const y = b[i]
    if (x === '#' || y === '#') return true
    if (x === undefined || y === undefined) return x === y
    if (x !== '+' && y !== '+' && x !== y) return false
  }
}

/** Whether every topic matching `filter` matches `rule`. */
export function covers (rule: readonly string[], filter: readonly string[]): boolean {
  if (isWild(rule[0]) && !isWild(filter[0]) && filter[0]!.startsWith('$')) return false
  for (let i = 0; ; i++) {
    const r = rule[i]
    const f = filter[i]
    if (r === '#') return true
    if (r === undefined || f === undefined) return r === f
    if (f === '#') return false
    if (r === '+') continue
    if (f === '+' || r !== f) return false
  }
}

export interface Identity { clientId: string, username: string | undefined }

export interface BrokerRules {
  /** Filters every client may read whatever the ACL says (the status space). */
  alwaysReadable: readonly string[]
  /** This client's own topics it may always write (its command-ack topic). */
  alwaysWritable: readonly string[]
}

export type SubscribeGrant = 'full' | 'partial' | 'denied'

/** One client's rules, compiled at CONNECT. */
export class ClientAcl {
  readonly #deny: Compiled[] = []
  readonly #read: Compiled[] = []
  readonly #write: Compiled[] = []
  readonly #alwaysRead: Compiled[]
  readonly #alwaysWrite: readonly string[]
  /** Devices publish to the same topic again and again: the last answer, by string equality. */
  #lastWrite: string | null = null
  #lastWriteAllowed = false

  constructor (rules: readonly AclRule[], broker: BrokerRules) {
    for (const rule of rules) {
      const compiled = compile(rule.topic)
      if (rule.access === 'deny') this.#deny.push(compiled)
      if (rule.access === 'read' || rule.access === 'readwrite') this.#read.push(compiled)
      if (rule.access === 'write' || rule.access === 'readwrite') this.#write.push(compiled)
    }
    this.#alwaysRead = broker.alwaysReadable.map(compile)
    this.#alwaysWrite = broker.alwaysWritable
  }

  /** Hot path: may this client PUBLISH to `topic`? */
  canWrite (topic: string): boolean {
    if (topic === this.#lastWrite) return this.#lastWriteAllowed
    const allowed = this.#decide(topic, WRITE)
    this.#lastWrite = topic
    this.#lastWriteAllowed = allowed
    return allowed
  }

  /** Per delivery on a partly covered subscription: may this client receive `topic`? */
  canRead (topic: string): boolean {
    return this.#decide(topic, READ)
  }

  #decide (topic: string, access: number): boolean {
    if (access === WRITE) {
      for (let i = 0; i < this.#alwaysWrite.length; i++) if (this.#alwaysWrite[i] === topic) return true
    } else {
      for (let i = 0; i < this.#alwaysRead.length; i++) if (matchesLevels(this.#alwaysRead[i]!.levels, topic)) return true
    }
    const deny = this.#deny
    for (let i = 0; i < deny.length; i++) if (matchesLevels(deny[i]!.levels, topic)) return false
    const grants = access === WRITE ? this.#write : this.#read
    for (let i = 0; i < grants.length; i++) if (matchesLevels(grants[i]!.levels, topic)) return true
    return false
  }

  /**
   * SUBSCRIBE: 'denied' when no read grant can match any topic of the filter
   * (or a deny rule covers all of it); 'full' when one grant covers it and no
   * deny rule touches it (deliveries need no check); else 'partial'.
   */
  subscribe (filter: string): SubscribeGrant {
    const levels = filter.split('/')
    if (this.#alwaysRead.some((r) => covers(r.levels, levels))) return 'full'
    const touchesAlways = this.#alwaysRead.some((r) => intersects(r.levels, levels))
    if (this.#deny.some((r) => covers(r.levels, levels))) return touchesAlways ? 'partial' : 'denied'
    const anyRead = this.#read.some((r) => intersects(r.levels, levels))
    if (!anyRead) return touchesAlways ? 'partial' : 'denied'
    if (this.#read.some((r) => covers(r.levels, levels)) && !this.#deny.some((r) => intersects(r.levels, levels))) return 'full'
    return 'partial'
  }
}

/** %c / %u can only stand for a whole level: a value with '/', '+', '#' or NUL would widen the rule. */
const UNSAFE = /[/+#\u0000]/

/** The rules that apply to one client, Mosquitto's way, patterns filled in. */
export function rulesFor (acl: AclFile, who: Identity): AclRule[] {
  const own = who.username !== undefined ? (acl.users.get(who.username) ?? []) : acl.anonymous
  const out: AclRule[] = [...own]
  for (const pattern of acl.patterns) {
    const usesC = pattern.topic.includes('%c')
    const usesU = pattern.topic.includes('%u')
    if (usesU && (who.username === undefined || UNSAFE.test(who.username))) continue
    if (usesC && UNSAFE.test(who.clientId)) continue
    out.push({
      access: pattern.access,
      topic: pattern.topic.replace(/%[cu]/g, (m) => m === '%c' ? who.clientId : (who.username ?? ''))
    })
  }
  return out
}

export function compileClientAcl (acl: AclFile, who: Identity, broker: BrokerRules): ClientAcl {
  return new ClientAcl(rulesFor(acl, who), broker)
}
