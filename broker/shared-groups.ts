/**
 * MQTT 5 shared subscriptions, the pure part [MQTT-4.8.2]: what a
 * `$share/{ShareName}/{filter}` filter says, and a group's members in
 * round-robin order. No Aedes, no clock; broker/aedes/shared-subscriptions.ts
 * applies it.
 */

export const SHARE_PREFIX = '$share/'

export type ShareFilter = { share: string, filter: string } | { problem: string }

/**
 * The ShareName and the real filter of a `$share/` filter, or why it is not a
 * valid one; null for any other filter. [MQTT-4.8.2-1] a ShareName of at least
 * one character; [MQTT-4.8.2-2] no '/', '+' or '#' in it, and a '/' then a
 * Topic Filter after it. Whether that filter is well formed is the caller's
 * to check, as for any filter.
 */
export function parseShare (topic: string): ShareFilter | null {
  if (!topic.startsWith(SHARE_PREFIX)) return null
  const slash = topic.indexOf('/', SHARE_PREFIX.length)
  const share = slash === -1 ? topic.slice(SHARE_PREFIX.length) : topic.slice(SHARE_PREFIX.length, slash)
  if (share.length === 0) return { problem: `no ShareName in ${topic} [MQTT-4.8.2-1]` }
  if (share.includes('+') || share.includes('#')) return { problem: `'+' or '#' in the ShareName of ${topic} [MQTT-4.8.2-2]` }
  if (slash === -1 || slash === topic.length - 1) return { problem: `no topic filter after the ShareName in ${topic} [MQTT-4.8.2-2]` }
  return { share, filter: topic.slice(slash + 1) }
}

/**
 * Members by id, taken in turn: an array and an index, so choosing one is
 * O(1) and allocates nothing; adding or removing one (a SUBSCRIBE, a
 * disconnect) costs a scan of the group.
 */
export class RoundRobin<M> {
  readonly #ids: string[] = []
  readonly #members: M[] = []
  #next = 0

  get size (): number { return this.#members.length }

  has (id: string): boolean { return this.#ids.includes(id) }

  get (id: string): M | undefined {
    const i = this.#ids.indexOf(id)
    return i === -1 ? undefined : this.#members[i]
  }

  /** Add `member` under `id`, or replace the one there in its place in the turn. */
  set (id: string, member: M): void {
    const i = this.#ids.indexOf(id)
    if (i !== -1) {
      this.#members[i] = member
      return
    }
    this.#ids.push(id)
    this.#members.push(member)
  }

  delete (id: string): boolean {
    const i = this.#ids.indexOf(id)
    if (i === -1) return false
    this.#ids.splice(i, 1)
    this.#members.splice(i, 1)
    // The one after the removed member keeps its turn.
    if (i < this.#next) this.#next--
    return true
  }

  /** The member whose turn it is (then the next one's), or undefined when there is none. */
  next (): M | undefined {
    const n = this.#members.length
    if (n === 0) return undefined
    if (this.#next >= n) this.#next = 0
    return this.#members[this.#next++]
  }

  ids (): readonly string[] { return this.#ids }
}
